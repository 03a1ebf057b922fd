/** Export and import of the whole plane (see backup.service.ts); no background work. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { type AuditBackup, BackupService, type BackupServiceDeps, type SettingsBackup } from './backup.service.ts';

export interface BackupModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  validateDocument: BackupServiceDeps['validateDocument'];
  /** Wired once the settings module exists; until then exports carry `settings: []`. */
  settings?: SettingsBackup;
  /** Wired once the audit module exists; until then `include_audit` yields `audit_log: []`. */
  audit?: AuditBackup;
}

export function backupModule(deps: BackupModuleDeps): ModuleManifest<{ backup: BackupService }> {
  return { services: { backup: new BackupService(deps) } };
}
