/** Rows → the wire shapes of operators; hashes and counters never leave here. */
import type { ApiToken, OperatorRole, UserInfo } from '../../../contract/admin/operators.ts';
import type { ApiTokenRow, UserRow } from '../../db/tables/operators.ts';
import { toSecondPrecision } from '../../lib/time.ts';

export function parseNodeIds(stored: string | null): string[] | null {
  return stored === null ? null : (JSON.parse(stored) as string[]);
}

export function renderUser(row: UserRow): UserInfo {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    email: row.email,
    role: row.role as OperatorRole,
    is_temporary: row.is_temporary === 1,
    expires_at: toSecondPrecision(row.expires_at),
    allowed_node_ids: parseNodeIds(row.allowed_node_ids),
    is_active: row.is_active === 1,
    last_login_at: toSecondPrecision(row.last_login_at),
  };
}

export function renderToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    user_id: row.user_id,
    name: row.name,
    role: row.role as OperatorRole,
    token_prefix: row.token_prefix,
    expires_at: toSecondPrecision(row.expires_at),
    last_used_at: toSecondPrecision(row.last_used_at),
    revoked_at: toSecondPrecision(row.revoked_at),
    inserted_at: toSecondPrecision(row.inserted_at),
  };
}
