import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SessionEventListQuery, SessionEventRecord, UsageListQuery, UsageRecord } from '../../../contract/admin/vpn-usage.ts';
import { Paged } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { paged } from './http.ts';

const tags = ['VPN usage'];

export const vpnUsageRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/vpn/usage',
      {
        schema: {
          tags,
          summary: 'List per-minute usage records pushed by Core nodes',
          description:
            'Filters: subscription_id, user_id, node_id, node_protocol_id, recorded_at__gte/__lte. Newest minute first by default; order_by recorded_at, bytes_up, bytes_down or id.',
          querystring: UsageListQuery,
          response: { 200: Paged(UsageRecord) },
        },
      },
      async (req) => paged(req, await ctx.usage.listUsage(req.principal, req.query)),
    );

    app.get(
      '/vpn/session_events',
      {
        schema: {
          tags,
          summary: 'List online/offline session events pushed by Core nodes',
          description:
            'Filters: user_id, node_id, event_type, protocol, occurred_at__gte/__lte. Newest first by default; order_by occurred_at, inserted_at or id.',
          querystring: SessionEventListQuery,
          response: { 200: Paged(SessionEventRecord) },
        },
      },
      async (req) => paged(req, await ctx.usage.listSessionEvents(req.principal, req.query)),
    );
  };
