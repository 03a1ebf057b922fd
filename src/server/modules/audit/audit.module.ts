/** The audit log: recorded by the faces, listed by admins, pruned with the events (context.ts schedules it). */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { AuditService } from './audit.service.ts';

export interface AuditModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  retentionDays: () => number;
}

export function auditModule(deps: AuditModuleDeps): ModuleManifest<{ audit: AuditService }> {
  return { services: { audit: new AuditService(deps) } };
}
