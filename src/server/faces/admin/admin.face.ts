/**
 * The Admin API face (`/api/v1`, edge-admin spec): boot keys (API key, metrics key on the metrics
 * routes, master key everywhere) and operators (session cookie + CSRF, or API token) by role, the
 * `{data, meta}` envelopes, the degraded-mode gate and the audit trail of every write.
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
import { authRoutes } from './auth.routes.ts';
import { usersRoutes } from './users.routes.ts';
import { tokensRoutes } from './tokens.routes.ts';
import { auditRoutes } from './audit.routes.ts';
import { settingsRoutes } from './settings.routes.ts';
import { installAuditTrail } from './audit-trail.ts';
import { backupRoutes } from './backup.routes.ts';

export const adminFace =
  (ctx: AppContext): FastifyPluginAsync =>
  async (api) => {
    installFace(api, adminErrors);
    installAdminAuth(api, { keys: ctx.keys, operators: ctx.operators.auth });
    installDegradedGate(api, () => ctx.instances.isDegraded());
    installAuditTrail(api, ctx.audit);
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
    await api.register(authRoutes(ctx));
    await api.register(usersRoutes(ctx));
    await api.register(tokensRoutes(ctx));
    await api.register(auditRoutes(ctx));
    await api.register(settingsRoutes(ctx));
    await api.register(backupRoutes(ctx));
  };
