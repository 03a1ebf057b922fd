import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MetricsPushRequest, MetricsPushResult } from '../../../contract/agents/metrics.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok } from '../admin/http.ts';
import { nodeOf } from '../face-kit.ts';

const tags = ['Agents'];

export const agentMetricsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/metrics/push',
      {
        schema: {
          tags,
          summary: "Store the node's latest metrics snapshot of one type (replaces the previous one)",
          body: MetricsPushRequest,
          response: { 200: Single(MetricsPushResult) },
        },
      },
      async (req) => ok(req, await ctx.nodeMetrics.push(nodeOf(req), req.body.metrics_type, req.body.metrics_text)),
    );
  };
