/** VPN users: the owners of subscriptions. A user's status gates all of their subscriptions. */
import { type Kysely, type Selectable, sql } from 'kysely';
import type { VpnUser, VpnUserCreateRequest, VpnUserListQuery, VpnUserUpdateRequest } from '../../../contract/admin/vpn-users.ts';
import { forUpdate } from '../../db/dialect.ts';
import { type Filter, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { NotFoundError } from '../../errors.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { bumpForSubscriptions, bumpNodes, nodesOfSubscriptions } from './revisions.ts';
import type { VpnUsersTable } from './tables.ts';

type Db = Kysely<Database>;
type UserRecord = Selectable<VpnUsersTable> & { subscription_count: number };

const subscriptionCount = sql<number>`(select count(*) from vpn_subscriptions s where s.user_id = vpn_users.id)`;

const userFilters: Record<string, Filter> = {
  username: textFilter('vpn_users.username'),
  email: textFilter('vpn_users.email'),
  telegram_id: textFilter('vpn_users.telegram_id'),
  status: textFilter('vpn_users.status'),
  ...timestampFilters('vpn_users'),
};

const users = (db: Db) => db.selectFrom('vpn_users').selectAll('vpn_users').select(subscriptionCount.as('subscription_count'));

async function subscriptionIdsOf(db: Db, userId: number): Promise<number[]> {
  const rows = await db.selectFrom('vpn_subscriptions').select('id').where('user_id', '=', userId).execute();
  return rows.map((r) => Number(r.id));
}

export class VpnUserService {
  constructor(private readonly db: Db) {}

  async create(input: VpnUserCreateRequest): Promise<VpnUser> {
    const now = nowIso();
    const row = await this.db
      .insertInto('vpn_users')
      .values({ username: input.username, email: input.email ?? null, telegram_id: input.telegram_id ?? null, status: input.status ?? 'active', inserted_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow()
      .catch(rethrowTaken);
    return this.get(Number(row.id));
  }

  async get(id: number): Promise<VpnUser> {
    const row = (await users(this.db).where('vpn_users.id', '=', id).executeTakeFirst()) as UserRecord | undefined;
    if (!row) throw new NotFoundError('User');
    return render(row);
  }

  async list(query: VpnUserListQuery): Promise<Page<VpnUser>> {
    const page = await paginate(users(this.db), query, {
      filters: userFilters,
      sortable: { id: 'vpn_users.id', username: 'vpn_users.username', email: 'vpn_users.email', status: 'vpn_users.status', inserted_at: 'vpn_users.inserted_at', updated_at: 'vpn_users.updated_at' },
      tieBreaker: 'vpn_users.id',
    });
    return { items: (page.items as UserRecord[]).map(render), pagination: page.pagination };
  }

  /** A status change re-renders the nodes of every subscription the user holds. */
  async update(id: number, input: VpnUserUpdateRequest): Promise<VpnUser> {
    await this.db.transaction().execute(async (trx) => {
      const user = await forUpdate(trx, trx.selectFrom('vpn_users').selectAll().where('id', '=', id)).executeTakeFirst();
      if (!user) throw new NotFoundError('User');
      const change: Partial<Selectable<VpnUsersTable>> = {};
      if (input.username !== undefined) change.username = input.username;
      if (input.email !== undefined) change.email = input.email;
      if (input.telegram_id !== undefined) change.telegram_id = input.telegram_id;
      if (input.status !== undefined) change.status = input.status;
      if (Object.keys(change).length === 0) return;
      await trx.updateTable('vpn_users').set({ ...change, updated_at: nowIso() }).where('id', '=', id).execute().catch(rethrowTaken);
      if (input.status !== undefined && input.status !== user.status) await bumpForSubscriptions(trx, await subscriptionIdsOf(trx, id));
    });
    return this.get(id);
  }

  /** Deletes the user with their subscriptions; the nodes that served them drop the clients. */
  async delete(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const user = await forUpdate(trx, trx.selectFrom('vpn_users').select('id').where('id', '=', id)).executeTakeFirst();
      if (!user) throw new NotFoundError('User');
      const nodes = await nodesOfSubscriptions(trx, await subscriptionIdsOf(trx, id));
      await trx.deleteFrom('vpn_users').where('id', '=', id).execute();
      await bumpNodes(trx, nodes);
    });
  }
}

function render(row: UserRecord): VpnUser {
  return {
    id: Number(row.id),
    username: row.username,
    email: row.email,
    telegram_id: row.telegram_id,
    status: row.status,
    subscription_count: Number(row.subscription_count),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
