/**
 * The audit log: recorded by the faces, listed by admins, pruned with the events (context.ts
 * schedules it). Unattributed refusals over their address's limit are tallied in memory and
 * recorded once per window: that tally runs from start() to stop(), and stop() records what is
 * still pending.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { AuditService } from './audit.service.ts';

export interface AuditModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  retentionDays: () => number;
  log: Logger;
  config: { auditRefusalsPerAddress: number; auditRefusalsWindowMs: number };
}

export function auditModule(deps: AuditModuleDeps): ModuleManifest<{ audit: AuditService }> {
  const { config, log } = deps;
  const audit = new AuditService({
    db: deps.db,
    outbox: deps.outbox,
    retentionDays: deps.retentionDays,
    refusalsPerAddress: config.auditRefusalsPerAddress,
    refusalsWindowMs: config.auditRefusalsWindowMs,
    onError: (error) => log.error({ err: error }, 'recording aggregated audit refusals failed'),
  });
  return {
    services: { audit },
    start: async () => audit.start(),
    stop: () => audit.stop(),
  };
}
