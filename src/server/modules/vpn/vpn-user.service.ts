/** VPN users: the owners of subscriptions. A user's status gates all of their subscriptions. */
import type { Kysely, Selectable } from 'kysely';
import type { VpnUser, VpnUserCreateRequest, VpnUserListQuery, VpnUserUpdateRequest } from '../../../contract/admin/vpn-users.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { NotFoundError } from '../../errors.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { bumpForSubscriptions, bumpNodes, nodesOfSubscriptions } from './revisions.ts';
import type { VpnUsersTable } from '../../db/tables/vpn.ts';
import { type VpnUserRecord, vpnUserRepo } from './vpn-user.repo.ts';

type Db = Kysely<Database>;

export class VpnUserService {
  constructor(private readonly db: Db) {}

  async create(input: VpnUserCreateRequest): Promise<VpnUser> {
    const now = nowIso();
    const id = await vpnUserRepo
      .insert(this.db, {
        username: input.username,
        email: input.email ?? null,
        telegram_id: input.telegram_id ?? null,
        status: input.status ?? 'active',
        inserted_at: now,
        updated_at: now,
      })
      .catch(rethrowTaken);
    return this.get(id);
  }

  async get(id: number): Promise<VpnUser> {
    const row = await vpnUserRepo.findById(this.db, id);
    if (!row) throw new NotFoundError('User');
    return render(row);
  }

  async list(query: VpnUserListQuery): Promise<Page<VpnUser>> {
    const page = await vpnUserRepo.list(this.db, query);
    return { items: page.items.map(render), pagination: page.pagination };
  }

  /** A status change re-renders the nodes of every subscription the user holds. */
  async update(id: number, input: VpnUserUpdateRequest): Promise<VpnUser> {
    await this.db.transaction().execute(async (trx) => {
      const user = await vpnUserRepo.lockById(trx, id);
      if (!user) throw new NotFoundError('User');
      const change: Partial<Selectable<VpnUsersTable>> = {};
      if (input.username !== undefined) change.username = input.username;
      if (input.email !== undefined) change.email = input.email;
      if (input.telegram_id !== undefined) change.telegram_id = input.telegram_id;
      if (input.status !== undefined) change.status = input.status;
      if (Object.keys(change).length === 0) return;
      await vpnUserRepo.update(trx, id, { ...change, updated_at: nowIso() }).catch(rethrowTaken);
      if (input.status !== undefined && input.status !== user.status) await bumpForSubscriptions(trx, await vpnUserRepo.subscriptionIdsOf(trx, id));
    });
    return this.get(id);
  }

  /** Deletes the user with their subscriptions; the nodes that served them drop the clients. */
  async delete(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const user = await vpnUserRepo.lockIdById(trx, id);
      if (!user) throw new NotFoundError('User');
      const nodes = await nodesOfSubscriptions(trx, await vpnUserRepo.subscriptionIdsOf(trx, id));
      await vpnUserRepo.delete(trx, id);
      await bumpNodes(trx, nodes);
    });
  }
}

function render(row: VpnUserRecord): VpnUser {
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
