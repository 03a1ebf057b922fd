/** SQL of subscriptions and their grants (`vpn_subscriptions`, `subscription_protocols`). */
import type { ExpressionBuilder, Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import { forUpdate } from '../../db/dialect.ts';
import { dateRange, equals, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { VpnSubscriptionsTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;
type SubscriptionRow = Selectable<VpnSubscriptionsTable>;

/** The grant filters match only grants of protocols on nodes in the scope: others do not exist for the caller. */
const subscriptionFilters = (scope: NodeScope): Record<string, Filter> => ({
  user_id: equals('vpn_subscriptions.user_id'),
  status: textFilter('vpn_subscriptions.status'),
  reset_strategy: textFilter('vpn_subscriptions.reset_strategy'),
  link_uuid: (eb, v: string) => eb('vpn_subscriptions.link_uuid', '=', v.toLowerCase()),
  node_protocol_id: (eb, v: number) =>
    eb.exists(
      withinScope(
        eb
          .selectFrom('subscription_protocols as sp')
          .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
          .select('sp.subscription_id')
          .whereRef('sp.subscription_id', '=', 'vpn_subscriptions.id')
          .where('sp.node_protocol_id', '=', v),
        'np.node_id',
        scope,
      ),
    ),
  node_id: (eb, v: string) =>
    eb.exists(
      withinScope(
        eb
          .selectFrom('subscription_protocols as sp')
          .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
          .select('sp.subscription_id')
          .whereRef('sp.subscription_id', '=', 'vpn_subscriptions.id')
          .where('np.node_id', '=', v),
        'np.node_id',
        scope,
      ),
    ),
  has_expiry: present('vpn_subscriptions.expires_at'),
  is_unlimited: (eb, v: boolean) => eb('vpn_subscriptions.traffic_limit_bytes', v ? '=' : '>', 0),
  online: equals('vpn_subscriptions.online', (v: boolean) => (v ? 1 : 0)),
  ...dateRange('expires_at', 'vpn_subscriptions.expires_at'),
  ...timestampFilters('vpn_subscriptions'),
});

/** A period reset is due when the last one (or the creation) is before the period's start. */
const resetDue = (boundary: string) => (eb: ExpressionBuilder<Database, 'vpn_subscriptions'>) =>
  eb.or([eb('last_reset_at', '<', boundary), eb.and([eb('last_reset_at', 'is', null), eb('inserted_at', '<', boundary)])]);

export const subscriptionRepo = {
  /** Returns the new subscription's id. */
  async insert(db: Db, row: Insertable<VpnSubscriptionsTable>): Promise<number> {
    const inserted = await db.insertInto('vpn_subscriptions').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(inserted.id);
  },

  /** The subscription row, locked for the rest of the transaction. */
  lock(db: Db, id: number): Promise<SubscriptionRow | undefined> {
    return forUpdate(db, db.selectFrom('vpn_subscriptions').selectAll().where('id', '=', id)).executeTakeFirst();
  },

  async update(db: Db, id: number, change: Updateable<VpnSubscriptionsTable>): Promise<void> {
    await db.updateTable('vpn_subscriptions').set(change).where('id', '=', id).execute();
  },

  async delete(db: Db, id: number): Promise<void> {
    await db.deleteFrom('vpn_subscriptions').where('id', '=', id).execute();
  },

  /** The subscription a share link names, with its user's name. */
  findByLinkUuid(db: Db, linkUuid: string) {
    return db
      .selectFrom('vpn_subscriptions as s')
      .innerJoin('vpn_users as u', 'u.id', 's.user_id')
      .select(['s.id', 's.link_uuid', 's.used_up_bytes', 's.used_down_bytes', 's.traffic_limit_bytes', 's.expires_at', 's.ss_password_enc', 'u.username'])
      .where('s.link_uuid', '=', linkUuid)
      .executeTakeFirst();
  },

  /** The enabled protocols a subscription's link lists, on nodes not disabled, with their node's host and sync state. */
  linkProtocols(db: Db, subscriptionId: number) {
    return db
      .selectFrom('subscription_protocols as sp')
      .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
      .innerJoin('core_nodes as cn', 'cn.node_id', 'np.node_id')
      .innerJoin('nodes as n', 'n.id', 'np.node_id')
      .selectAll('np')
      .select(['cn.host', 'cn.sync_status', 'cn.last_error', 'n.name as node_name'])
      .where('sp.subscription_id', '=', subscriptionId)
      .where('np.enabled', '=', 1)
      .where('n.status', '!=', 'disabled')
      .orderBy('n.name')
      .orderBy('np.id')
      .execute();
  },

  // ── Sweep ─────────────────────────────────────────────────────────────────────────────────

  /** Live subscriptions whose expiry has passed, first `limit` by id. */
  dueForExpiry(db: Db, at: string, limit: number): Promise<Array<{ id: number }>> {
    return db
      .selectFrom('vpn_subscriptions')
      .select('id')
      .where('status', 'in', ['active', 'limited'])
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', at)
      .orderBy('id')
      .limit(limit)
      .execute();
  },

  /** Compare-and-set: only rows still live and past expiry change; returns them as changed. */
  expire(db: Db, ids: number[], at: string): Promise<SubscriptionRow[]> {
    return db
      .updateTable('vpn_subscriptions')
      .set({ status: 'expired', updated_at: at })
      .where('id', 'in', ids)
      .where('status', 'in', ['active', 'limited'])
      .where('expires_at', '<=', at)
      .returningAll()
      .execute();
  },

  dueForReset(db: Db, strategy: string, boundary: string, limit: number): Promise<Array<{ id: number; status: string }>> {
    return db
      .selectFrom('vpn_subscriptions')
      .select(['id', 'status'])
      .where('reset_strategy', '=', strategy)
      .where(resetDue(boundary))
      .orderBy('id')
      .limit(limit)
      .execute();
  },

  /** Compare-and-set: zeroes the period counters of rows still due; limited ones become active. Returns the ids reset. */
  async resetPeriod(db: Db, ids: number[], boundary: string, at: string): Promise<number[]> {
    const rows = await db
      .updateTable('vpn_subscriptions')
      .set((eb) => ({
        used_up_bytes: 0,
        used_down_bytes: 0,
        last_reset_at: at,
        updated_at: at,
        status: eb.case().when('status', '=', 'limited').then('active').else(eb.ref('status')).end(),
      }))
      .where('id', 'in', ids)
      .where(resetDue(boundary))
      .returning('id')
      .execute();
    return rows.map((r) => Number(r.id));
  },

  // ── Grants ────────────────────────────────────────────────────────────────────────────────

  /** The subscription's grants of protocols on nodes in the scope; grants elsewhere stay. */
  async clearGrants(db: Db, subscriptionId: number, scope: NodeScope): Promise<void> {
    let query = db.deleteFrom('subscription_protocols').where('subscription_id', '=', subscriptionId);
    if (scope !== null)
      query = query.where('node_protocol_id', 'in', withinScope(db.selectFrom('node_protocols').select('node_protocols.id'), 'node_protocols.node_id', scope));
    await query.execute();
  },

  /** false when there was no such grant. */
  async removeGrant(db: Db, subscriptionId: number, protocolId: number): Promise<boolean> {
    const result = await db
      .deleteFrom('subscription_protocols')
      .where('subscription_id', '=', subscriptionId)
      .where('node_protocol_id', '=', protocolId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  find(db: Db, id: number): Promise<Selectable<VpnSubscriptionsTable> | undefined> {
    return db.selectFrom('vpn_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<Selectable<VpnSubscriptionsTable>>> {
    return paginate(db.selectFrom('vpn_subscriptions').selectAll('vpn_subscriptions'), input, {
      filters: subscriptionFilters(scope),
      sortable: {
        id: 'vpn_subscriptions.id',
        user_id: 'vpn_subscriptions.user_id',
        status: 'vpn_subscriptions.status',
        traffic_limit_bytes: 'vpn_subscriptions.traffic_limit_bytes',
        used_up_bytes: 'vpn_subscriptions.used_up_bytes',
        used_down_bytes: 'vpn_subscriptions.used_down_bytes',
        expires_at: 'vpn_subscriptions.expires_at',
        online_at: 'vpn_subscriptions.online_at',
        inserted_at: 'vpn_subscriptions.inserted_at',
        updated_at: 'vpn_subscriptions.updated_at',
      },
      tieBreaker: 'vpn_subscriptions.id',
    });
  },

  /** Idempotent: a grant that exists stays as it is. */
  async addGrants(db: Db, subscriptionId: number, protocolIds: number[]): Promise<void> {
    for (const part of chunks(protocolIds)) {
      await db
        .insertInto('subscription_protocols')
        .values(part.map((node_protocol_id) => ({ subscription_id: subscriptionId, node_protocol_id })))
        .onConflict((oc) => oc.columns(['subscription_id', 'node_protocol_id']).doNothing())
        .execute();
    }
  },

  /** Each subscription's granted protocol ids, of protocols on nodes in the scope. */
  async grantsOf(db: Db, subscriptionIds: number[], scope: NodeScope): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    for (const part of chunks(subscriptionIds)) {
      const rows = await withinScope(
        db
          .selectFrom('subscription_protocols')
          .innerJoin('node_protocols', 'node_protocols.id', 'subscription_protocols.node_protocol_id')
          .select(['subscription_protocols.subscription_id', 'subscription_protocols.node_protocol_id'])
          .where('subscription_protocols.subscription_id', 'in', part),
        'node_protocols.node_id',
        scope,
      )
        .orderBy('subscription_protocols.subscription_id')
        .orderBy('subscription_protocols.node_protocol_id')
        .execute();
      for (const r of rows) {
        const list = out.get(r.subscription_id) ?? [];
        list.push(r.node_protocol_id);
        out.set(r.subscription_id, list);
      }
    }
    return out;
  },
};
