/**
 * `GET /ws/dashboard` (manager spec §4): the browser's live view. Only a `session` cookie signs in
 * (no bearer: browsers cannot set headers on a WebSocket), checked before the upgrade; an Origin
 * other than this listener's own is refused, so another site cannot ride the cookie.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ManagerError } from '../../../contract/manager/nodes.ts';
import type { AppContext } from '../../context.ts';
import type { OperatorPrincipal } from '../../principal.ts';
import { DashboardStream } from './dashboard-stream.ts';

const MAX_COOKIE = 512;

function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export const dashboardRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const stream = new DashboardStream(ctx.manager.sessions, ctx.deviceTypes, () => ctx.settings.statsBroadcastIntervalMs());
    app.addHook('onClose', async () => stream.stop());
    const signedIn = new WeakMap<object, OperatorPrincipal>();

    app.route({
      method: 'GET',
      url: '/ws/dashboard',
      schema: {
        tags: ['Manager'],
        summary: 'Dashboard WebSocket: dashboard_update messages (session cookie only)',
        description: 'WebSocket upgrade only. Server to browser only: `{"type":"dashboard_update","online_count","nodes":[…]}`.',
        security: [],
        response: { 401: ManagerError, 403: ManagerError, 426: ManagerError },
      },
      config: { auth: 'public' },
      preValidation: async (req, reply) => {
        if (!sameOrigin(req.headers.origin, req.headers.host)) return reply.code(403).send({ error: 'Origin not allowed' });
        const cookie = req.cookies?.session;
        const principal = cookie && cookie.length <= MAX_COOKIE ? await ctx.operators.auth.authenticateSession(cookie) : null;
        if (!principal) return reply.code(401).send({ error: 'Unauthorized' });
        signedIn.set(req.raw, principal);
      },
      handler: async (_req, reply) => reply.code(426).send({ error: 'This endpoint speaks WebSocket only' }),
      wsHandler: (socket, req) => {
        const principal = signedIn.get(req.raw);
        if (!principal) return socket.close(1008);
        stream.add(socket, principal);
      },
    });
  };
