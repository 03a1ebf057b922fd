/**
 * The Admin API face (`/api/v1`, edge-admin spec): boot-key auth (API key, metrics key on the
 * metrics routes, master key everywhere), the `{data, meta}` envelopes and the degraded-mode gate.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.ts';
import { installFace } from '../face-kit.ts';
import { adminErrors, installAdminAuth, installDegradedGate } from './http.ts';
import { clusterRoutes } from './clusters.routes.ts';
import { enrollmentKeysRoutes } from './enrollment-keys.routes.ts';
import { nodesRoutes } from './nodes.routes.ts';
import { fleetRoutes } from './fleet.routes.ts';
import { aliasesRoutes } from './aliases.routes.ts';
import { adminsRoutes } from './admins.routes.ts';
import { nodeMetricsRoutes } from './node-metrics.routes.ts';
import { commandRoutes } from './commands.routes.ts';
import { sshRoutes } from './ssh.routes.ts';
import { selfUpdateRoutes } from './self-updates.routes.ts';
import { webhookRoutes } from './webhooks.routes.ts';
import { adminMetricsRoutes } from './admin-metrics.routes.ts';
import { vpnAdminRoutes } from './vpn.routes.ts';
import { vpnUsageRoutes } from './vpn-usage.routes.ts';
import { backupRoutes } from './backup.routes.ts';

export const adminFace =
  (ctx: AppContext): FastifyPluginAsync =>
  async (api) => {
    installFace(api, adminErrors);
    installAdminAuth(api, ctx.keys);
    installDegradedGate(api, () => ctx.instances.isDegraded());
    await api.register(clusterRoutes(ctx));
    await api.register(enrollmentKeysRoutes(ctx));
    await api.register(nodesRoutes(ctx));
    await api.register(fleetRoutes(ctx));
    await api.register(aliasesRoutes(ctx));
    await api.register(adminsRoutes(ctx));
    await api.register(nodeMetricsRoutes(ctx));
    await api.register(commandRoutes(ctx));
    await api.register(sshRoutes(ctx));
    await api.register(selfUpdateRoutes(ctx));
    await api.register(webhookRoutes(ctx));
    await api.register(adminMetricsRoutes(ctx));
    await api.register(vpnAdminRoutes(ctx));
    await api.register(vpnUsageRoutes(ctx));
    await api.register(backupRoutes(ctx));
  };
