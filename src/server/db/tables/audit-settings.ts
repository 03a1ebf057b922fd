/** Row types of the audit log and the settings (see migration 0015_audit_settings); part of the Database interface. */
import type { Selectable } from 'kysely';

/** One state-changing Admin API call or login, refused ones included. */
export interface AuditLogTable {
  /** UUIDv7. */
  id: string;
  at: string;
  /** operator | token | api-key | node | public */
  actor_type: string;
  /** User id (operator, token), boot key name (api-key), node id; null for the public. */
  actor_id: string | null;
  /** Username, boot key name, or the username a failed login tried. */
  actor_name: string | null;
  /** `cluster.create`, `auth.login_failed`… */
  action: string;
  target_type: string | null;
  target_id: string | null;
  method: string;
  /** Request path without its query string. */
  path: string;
  /** HTTP status answered. */
  status: number;
  ip: string | null;
  /** JSON object text, or null. */
  details: string | null;
}

/** One saved setting; keys without a row have their default. */
export interface SettingsTable {
  key: string;
  /** The integer value as text (manager spec §5.5 stores strings). */
  value: string;
  updated_at: string;
  /** Who saved it: an operator's user id, or `api-key:<name>`. */
  updated_by: string | null;
}

export interface AuditSettingsTables {
  audit_log: AuditLogTable;
  settings: SettingsTable;
}

export type AuditLogRow = Selectable<AuditLogTable>;
export type SettingRow = Selectable<SettingsTable>;
