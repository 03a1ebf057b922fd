/** SQL of `api_tokens`. */
import type { Kysely } from 'kysely';
import { equals, type Filter, type ListInput, type Page, paginate, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { ApiTokenRow, UserRow } from '../../db/tables/operators.ts';

type Db = Kysely<Database>;

export interface TokenWithUser {
  token: ApiTokenRow;
  user: Pick<UserRow, 'id' | 'username' | 'role' | 'allowed_node_ids' | 'is_active' | 'expires_at'>;
}

const filters: Record<string, Filter> = {
  user_id: equals('api_tokens.user_id'),
  ...timestampFilters('api_tokens'),
};

export const tokenRepo = {
  async insert(db: Db, row: ApiTokenRow): Promise<void> {
    await db.insertInto('api_tokens').values(row).execute();
  },

  find(db: Db, id: string): Promise<ApiTokenRow | undefined> {
    return db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  },

  /** One indexed lookup (the unique token hash) with the owner joined. */
  async findByTokenHash(db: Db, tokenHash: string): Promise<TokenWithUser | undefined> {
    const row = await db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .selectAll('t')
      .select(['u.username', 'u.role as user_role', 'u.allowed_node_ids', 'u.is_active', 'u.expires_at as user_expires_at'])
      .where('t.token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (!row) return undefined;
    const { username, user_role, allowed_node_ids, is_active, user_expires_at, ...token } = row;
    return { token, user: { id: token.user_id, username, role: user_role, allowed_node_ids, is_active, expires_at: user_expires_at } };
  },

  list(db: Db, input: ListInput): Promise<Page<ApiTokenRow>> {
    return paginate(db.selectFrom('api_tokens').selectAll(), input, {
      filters,
      sortable: { name: 'api_tokens.name', inserted_at: 'api_tokens.inserted_at', last_used_at: 'api_tokens.last_used_at' },
      tieBreaker: 'api_tokens.id',
    });
  },

  /** Moves `last_used_at` when unset or older than `staleBefore`: at most one write a minute per token. */
  async touch(db: Db, id: string, now: string, staleBefore: string): Promise<void> {
    await db
      .updateTable('api_tokens')
      .set({ last_used_at: now })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)]))
      .execute();
  },

  async revoke(db: Db, id: string, now: string): Promise<boolean> {
    const result = await db.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },
};
