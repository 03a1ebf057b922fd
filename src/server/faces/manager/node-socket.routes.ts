/**
 * `GET /ws/node`: the node WebSocket of bilbycast edges and relays (manager spec §1). Public at the
 * HTTP level: the node authenticates with its first frame, which the hub checks.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ManagerError } from '../../../contract/manager/nodes.ts';
import type { AppContext } from '../../context.ts';

export const nodeSocketRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.route({
      method: 'GET',
      url: '/ws/node',
      schema: {
        tags: ['Manager'],
        summary: 'Node WebSocket (bilbycast edge and relay nodes)',
        description:
          'WebSocket upgrade only (a plain GET gets 426). First frame: `{"type":"auth","payload":{registration_token | node_id + node_secret}}`; the answer is `register_ack`, `auth_ok` or `auth_error`. Then `health`, `stats`, `event` from the node, `ping` and `command` from the manager.',
        security: [],
        response: { 426: ManagerError },
      },
      config: { auth: 'public' },
      handler: async (_req, reply) => reply.code(426).send({ error: 'This endpoint speaks WebSocket only' }),
      wsHandler: (socket) => ctx.managerHub.accept(socket),
    });
  };
