/**
 * Traffic pushes of Core node agents: `/node/usage`, `/node/outbound-usage`, `/node/session-events`.
 * The node is always the one the x-node-auth-key belongs to, never a field of the body.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IngestHeaders, IngestOk, NodeOutboundUsageRequest, NodeUsageRequest, SessionEventsRequest } from '../../../contract/core-node/ingest.ts';
import { CoreErrorBody } from '../../../contract/core-node/node.ts';
import type { AppContext } from '../../context.ts';
import { nodeOf } from '../face-kit.ts';

const tags = ['Core node API'];
// The node authenticates with x-node-auth-key (declared as a header), not the Admin API's bearer key.
const security: never[] = [];
const responses = { 200: IngestOk, 400: CoreErrorBody, 401: CoreErrorBody };
const idempotency =
  'An optional `Idempotency-Key` header makes a retried push count once: a key this node already used on this route within a day is acknowledged without storing anything.';

export const coreIngestRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/usage',
      {
        schema: {
          tags,
          security,
          summary: 'Push per-minute usage',
          description: `Adds each entry to its minute bucket and to its subscription's counters in one transaction; subscriptions that reach their traffic limit become limited. An entry naming another node's protocol, or a subscription of another user, refuses the whole batch (400, nothing stored). ${idempotency}`,
          headers: IngestHeaders,
          body: NodeUsageRequest,
          response: responses,
        },
      },
      async (req) => {
        await ctx.usage.recordUsage(nodeOf(req), req.body.entries, req.headers['idempotency-key']);
        return { ok: true as const };
      },
    );

    app.post(
      '/outbound-usage',
      {
        schema: {
          tags,
          security,
          summary: 'Push outbound traffic deltas',
          description: `Adds each item to the node's outbound with that tag; tags the node has no outbound for (such as the built-in direct and block) are ignored. ${idempotency}`,
          headers: IngestHeaders,
          body: NodeOutboundUsageRequest,
          response: responses,
        },
      },
      async (req) => {
        await ctx.usage.recordOutboundUsage(nodeOf(req), req.body.items, req.headers['idempotency-key']);
        return { ok: true as const };
      },
    );

    app.post(
      '/session-events',
      {
        schema: {
          tags,
          security,
          summary: 'Push online/offline session events',
          description: `Stores the events and updates the online state of the user's subscriptions this node serves with the event's protocol. ${idempotency}`,
          headers: IngestHeaders,
          body: SessionEventsRequest,
          response: responses,
        },
      },
      async (req) => {
        await ctx.usage.recordSessionEvents(nodeOf(req), req.body.events, req.headers['idempotency-key']);
        return { ok: true as const };
      },
    );
  };
