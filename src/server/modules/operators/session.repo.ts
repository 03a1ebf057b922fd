/** SQL of `operator_sessions`. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { OperatorSessionRow, UserRow } from '../../db/tables/operators.ts';

type Db = Kysely<Database>;

/** A session with the columns of its user that authentication needs. */
export interface SessionWithUser {
  session: OperatorSessionRow;
  user: Pick<UserRow, 'id' | 'username' | 'role' | 'allowed_node_ids' | 'is_active' | 'expires_at'>;
}

export const sessionRepo = {
  async insert(db: Db, row: OperatorSessionRow): Promise<void> {
    await db.insertInto('operator_sessions').values(row).execute();
  },

  /** One indexed lookup (the unique token hash) with the user joined: the whole cost of a cookie request. */
  async findByTokenHash(db: Db, tokenHash: string): Promise<SessionWithUser | undefined> {
    const row = await db
      .selectFrom('operator_sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .selectAll('s')
      .select(['u.username', 'u.role', 'u.allowed_node_ids', 'u.is_active', 'u.expires_at as user_expires_at'])
      .where('s.token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (!row) return undefined;
    const { username, role, allowed_node_ids, is_active, user_expires_at, ...session } = row;
    return { session, user: { id: session.user_id, username, role, allowed_node_ids, is_active, expires_at: user_expires_at } };
  },

  /** Moves `last_seen_at` only when it is older than `staleBefore`, so busy sessions write once a minute. */
  async touch(db: Db, id: string, now: string, staleBefore: string): Promise<void> {
    await db.updateTable('operator_sessions').set({ last_seen_at: now }).where('id', '=', id).where('last_seen_at', '<', staleBefore).execute();
  },

  async revoke(db: Db, id: string, now: string): Promise<boolean> {
    const result = await db.updateTable('operator_sessions').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  async revokeAllOf(db: Db, userId: string, now: string): Promise<number> {
    const result = await db
      .updateTable('operator_sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  /** Sessions that can no longer be used: expired, or revoked before `revokedBefore`. */
  async prune(db: Db, now: string, revokedBefore: string): Promise<number> {
    const result = await db
      .deleteFrom('operator_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('revoked_at', '<', revokedBefore)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
