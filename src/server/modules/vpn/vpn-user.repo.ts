/** SQL of VPN users (`vpn_users`). */
import { type Insertable, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import { type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { VpnUsersTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;
export type VpnUserRecord = Selectable<VpnUsersTable> & { subscription_count: number };

const subscriptionCount = sql<number>`(select count(*) from vpn_subscriptions s where s.user_id = vpn_users.id)`;

const vpnUserFilters: Record<string, Filter> = {
  username: textFilter('vpn_users.username'),
  email: textFilter('vpn_users.email'),
  telegram_id: textFilter('vpn_users.telegram_id'),
  status: textFilter('vpn_users.status'),
  ...timestampFilters('vpn_users'),
};

const users = (db: Db) => db.selectFrom('vpn_users').selectAll('vpn_users').select(subscriptionCount.as('subscription_count'));

export const vpnUserRepo = {
  /** Returns the new user's id. */
  async insert(db: Db, row: Insertable<VpnUsersTable>): Promise<number> {
    const inserted = await db.insertInto('vpn_users').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(inserted.id);
  },

  findById(db: Db, id: number): Promise<VpnUserRecord | undefined> {
    return users(db).where('vpn_users.id', '=', id).executeTakeFirst() as Promise<VpnUserRecord | undefined>;
  },

  async list(db: Db, input: ListInput): Promise<Page<VpnUserRecord>> {
    const page = await paginate(users(db), input, {
      filters: vpnUserFilters,
      sortable: {
        id: 'vpn_users.id',
        username: 'vpn_users.username',
        email: 'vpn_users.email',
        status: 'vpn_users.status',
        inserted_at: 'vpn_users.inserted_at',
        updated_at: 'vpn_users.updated_at',
      },
      tieBreaker: 'vpn_users.id',
    });
    return { items: page.items as VpnUserRecord[], pagination: page.pagination };
  },

  /** The user row, locked for the rest of the transaction. */
  lockById(db: Db, id: number): Promise<Selectable<VpnUsersTable> | undefined> {
    return forUpdate(db, db.selectFrom('vpn_users').selectAll().where('id', '=', id)).executeTakeFirst();
  },

  /** Locks the user row; returns its id when it exists. */
  lockIdById(db: Db, id: number): Promise<{ id: number } | undefined> {
    return forUpdate(db, db.selectFrom('vpn_users').select('id').where('id', '=', id)).executeTakeFirst();
  },

  async update(db: Db, id: number, change: Updateable<VpnUsersTable>): Promise<void> {
    await db.updateTable('vpn_users').set(change).where('id', '=', id).execute();
  },

  async delete(db: Db, id: number): Promise<void> {
    await db.deleteFrom('vpn_users').where('id', '=', id).execute();
  },

  /** Ids of the user's subscriptions (reads `vpn_subscriptions`). */
  async subscriptionIdsOf(db: Db, userId: number): Promise<number[]> {
    const rows = await db.selectFrom('vpn_subscriptions').select('id').where('user_id', '=', userId).execute();
    return rows.map((r) => Number(r.id));
  },
};
