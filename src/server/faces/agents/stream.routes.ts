/**
 * The live channel of agents that dial out: `GET /api/v1/agents/stream`, a WebSocket authenticated
 * with the node's api_token (refused with 401 before the upgrade). WebSocket rather than SSE: the
 * channel is two-way (health frames go up the same socket, so a connected agent needs no HTTP
 * requests at all), and ping/pong gives both ends dead-peer detection without application traffic.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';
import { ErrorEnvelope } from '../../../contract/types.ts';
import { sendError } from '../admin/http.ts';
import { tokenHash } from '../../lib/secrets.ts';
import { nodeOf, readToken } from '../face-kit.ts';

export const agentStreamRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.route({
      method: 'GET',
      url: '/stream',
      schema: {
        tags: ['Agents'],
        summary: 'Live channel: the server pushes work (JSON frames) the moment it exists',
        description:
          'WebSocket upgrade only (a plain GET gets 426). Server frames: `welcome` {node_id, health_interval_ms}, `execution` {execution}, `cancel_execution` {id}, `self_update`. Agent frames: `health` {status: healthy|unhealthy}. Presence is WebSocket ping/pong; close code 4401 = token revoked, 4000 = replaced by a newer connection.',
        response: { 426: ErrorEnvelope },
      },
      handler: async (req, reply) => {
        await sendError(req, reply, 426, 'upgrade_required', 'This endpoint speaks WebSocket only');
      },
      wsHandler: (socket, req) => ctx.agentHub.attach(nodeOf(req).id, socket, tokenHash(readToken(req)!)),
    });
  };
