/**
 * This instance's own metrics behind METRICS_KEY (edge-admin spec §5, §12.3): the contract's
 * summary blocks, and the whole registry as Prometheus text.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AdminMetrics } from '../../../contract/admin/admin-metrics.ts';
import { PROMETHEUS_TEXT } from '../../../contract/admin/node-metrics.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { AppError, UnavailableError } from '../../errors.ts';
import { ok } from './http.ts';

const tags = ['Admins'];
const config = { auth: 'metrics' as const };

export const adminMetricsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admins/me/metrics',
      {
        schema: { tags, summary: "This admin instance's own metrics", response: { 200: Single(AdminMetrics) } },
        config,
      },
      async (req) => {
        try {
          return ok(req, await ctx.adminMetrics.collect());
        } catch (error) {
          if (error instanceof AppError) throw error;
          req.log.error({ err: error }, 'collecting admin metrics failed');
          throw new UnavailableError('Downstream dependency unreachable');
        }
      },
    );

    app.get(
      '/admins/me/metrics/raw',
      {
        schema: {
          tags,
          summary: "This admin instance's own metrics as Prometheus text",
          response: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { [PROMETHEUS_TEXT]: { schema: { type: 'string' } } } } },
        },
        config,
      },
      async (_req, reply) => reply.type(`${PROMETHEUS_TEXT}; charset=utf-8`).send(await ctx.nodeMetrics.registry.metrics()),
    );
  };
