/**
 * The live channel of agents that dial out: `GET /api/v1/agents/stream`, a WebSocket authenticated
 * with the node's api_token (refused with 401 before the upgrade). WebSocket rather than SSE: the
 * channel is two-way (health frames go up the same socket, so a connected agent needs no HTTP
 * requests at all), and ping/pong gives both ends dead-peer detection without application traffic.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';
import { agentOf } from './auth.ts';

export const agentStreamRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/stream', {
      websocket: true,
      schema: {
        tags: ['Agents'],
        summary: 'Live channel: the server pushes work (JSON frames) the moment it exists',
        description:
          'WebSocket. Server frames: `welcome` {node_id, health_interval_ms}, `execution` {execution}, `cancel_execution` {id}, `self_update`. Agent frames: `health` {status: healthy|unhealthy}. Presence is WebSocket ping/pong.',
      },
    }, (socket, req) => ctx.agentHub.attach(agentOf(req).nodeId, socket));
  };
