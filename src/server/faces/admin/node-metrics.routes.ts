/**
 * Node metrics behind METRICS_KEY (edge-admin spec §5, §12.3), and the control plane's own
 * Prometheus endpoint. Parsed views use the `{data, meta}` envelope; raw views return the pushed
 * exposition text untouched so Prometheus can scrape nodes through the Admin API.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AgentMetrics, HostMetrics, NodeMetricsParams, PROMETHEUS_TEXT, UnifiedMetrics } from '../../../contract/admin/node-metrics.ts';
import { METRICS_TYPES } from '../../../contract/agents/metrics.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { installAdminAuth, ok } from './http.ts';

const tags = ['Node metrics'];
const config = { auth: 'metrics' as const };

const prometheusText = (description: string) => ({
  description,
  content: { [PROMETHEUS_TEXT]: { schema: { type: 'string' } } },
});

export const nodeMetricsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/nodes/:node_id/metrics',
      {
        schema: {
          tags,
          summary: 'Get unified metrics for a node (each source marked available or not)',
          params: NodeMetricsParams,
          response: { 200: Single(UnifiedMetrics) },
        },
        config,
      },
      async (req) => ok(req, await ctx.nodeMetrics.unified(req.principal, req.params.node_id)),
    );

    app.get(
      '/nodes/:node_id/metrics/host',
      {
        schema: { tags, summary: 'Get host metrics for a node', params: NodeMetricsParams, response: { 200: Single(HostMetrics) } },
        config,
      },
      async (req) => ok(req, await ctx.nodeMetrics.host(req.principal, req.params.node_id)),
    );

    app.get(
      '/nodes/:node_id/metrics/agent',
      {
        schema: { tags, summary: 'Get agent metrics for a node', params: NodeMetricsParams, response: { 200: Single(AgentMetrics) } },
        config,
      },
      async (req) => ok(req, await ctx.nodeMetrics.agent(req.principal, req.params.node_id)),
    );

    for (const type of METRICS_TYPES) {
      app.get(
        `/nodes/:node_id/metrics/${type}/raw`,
        {
          schema: {
            tags,
            summary: `Get a node's latest ${type} metrics as Prometheus text`,
            params: NodeMetricsParams,
            response: { 200: prometheusText(`The ${type} snapshot exactly as the node pushed it`) },
          },
          config,
        },
        async (req, reply) => reply.type(PROMETHEUS_TEXT).send(await ctx.nodeMetrics.raw(req.principal, req.params.node_id, type)),
      );
    }
  };

/**
 * GET /metrics: the control plane's own registry. Register on the root instance (the node-metrics
 * plugin lives under /api/v1). It installs the admin key auth itself because the Admin API face is
 * scoped to /api/v1; being encapsulated, this auth covers this route only.
 */
export const rootMetricsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    installAdminAuth(app, { keys: ctx.keys, operators: ctx.operators.auth });
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['Metrics'],
          summary: "The control plane's own Prometheus metrics",
          response: { 200: prometheusText('Prometheus text exposition format 0.0.4') },
        },
        config,
      },
      async (_req, reply) => {
        const registry = ctx.nodeMetrics.registry;
        return reply.type(registry.contentType).send(await registry.metrics());
      },
    );
  };
