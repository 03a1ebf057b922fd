/** Row types of the operator tables (see migration 0014_operators); part of the Database interface. */
import type { Selectable } from 'kysely';

/** A person with a role (manager spec §5.2 UserInfo). */
export interface UsersTable {
  id: string;
  /** Unique, compared as stored (1–64, `[A-Za-z0-9_.-]`, alphanumeric first). */
  username: string;
  display_name: string;
  email: string | null;
  role: string;
  /** Argon2id PHC string. Never leaves the service. */
  password_hash: string;
  is_temporary: number;
  expires_at: string | null;
  /** JSON array of inventory ids, or null = every node. */
  allowed_node_ids: string | null;
  is_active: number;
  last_login_at: string | null;
  /** Consecutive failed logins since the last success; reaching the limit sets `locked_until`. */
  failed_logins: number;
  locked_until: string | null;
  inserted_at: string;
  updated_at: string;
}

/** A signed-in browser (cookie `session`); `id` is the session id the audit log names. */
export interface OperatorSessionsTable {
  id: string;
  user_id: string;
  /** SHA-256 hex of the cookie value (256 random bits, so a plain hash is enough). */
  token_hash: string;
  /** The value the `csrf_token` cookie holds and `X-CSRF-Token` must repeat. */
  csrf_token: string;
  ip: string | null;
  user_agent: string | null;
  inserted_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** A named bearer token for automation, with a role no higher than its owner's. */
export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  role: string;
  /** SHA-256 hex of the token. */
  token_hash: string;
  /** The first characters of the token, so a list can tell tokens apart. */
  token_prefix: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  inserted_at: string;
}

/** The login rate limit's fixed window per client address, shared by every instance. */
export interface LoginAttemptsTable {
  ip: string;
  window_started_at: string;
  attempts: number;
}

export interface OperatorTables {
  users: UsersTable;
  operator_sessions: OperatorSessionsTable;
  api_tokens: ApiTokensTable;
  login_attempts: LoginAttemptsTable;
}

export type UserRow = Selectable<UsersTable>;
export type OperatorSessionRow = Selectable<OperatorSessionsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
