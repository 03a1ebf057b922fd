/**
 * The manager face (manager spec): bilbycast edge and relay nodes on `/ws/node`, and the manager's
 * REST API under `/api/v1` in its own shapes, on the manager's own TLS listener. Operators sign in
 * with the one operator system (session cookie + CSRF, or bearer API token / boot key).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.ts';
import { installFace } from '../face-kit.ts';
import { installManagerAuth, managerErrors } from './http.ts';
import { managerCommandRoutes } from './commands.routes.ts';
import { managerNodeRoutes } from './nodes.routes.ts';
import { managerTunnelRoutes } from './tunnels.routes.ts';
import { managerEventRoutes } from './events.routes.ts';
import { nodeSocketRoutes } from './node-socket.routes.ts';
import { dashboardRoutes } from './dashboard.routes.ts';
import { managerOperatorRoutes } from './operators.routes.ts';
import { installAuditTrail } from '../admin/audit-trail.ts';
import type { ManagerTlsService } from '../../modules/manager/manager-tls.service.ts';

export const managerFace =
  (ctx: AppContext, tls: ManagerTlsService): FastifyPluginAsync =>
  async (app) => {
    await app.register(nodeSocketRoutes(ctx));
    await app.register(dashboardRoutes(ctx));
    await app.register(managerApi(ctx, tls), { prefix: '/api/v1' });
  };

const managerApi =
  (ctx: AppContext, tls: ManagerTlsService): FastifyPluginAsync =>
  async (api) => {
    installFace(api, managerErrors);
    installManagerAuth(api, { keys: ctx.keys, operators: ctx.operators.auth });
    installAuditTrail(api, ctx.audit);
    await api.register(managerOperatorRoutes(ctx, tls));
    await api.register(managerNodeRoutes(ctx));
    await api.register(managerCommandRoutes(ctx));
    await api.register(managerTunnelRoutes(ctx));
    await api.register(managerEventRoutes(ctx));
  };
