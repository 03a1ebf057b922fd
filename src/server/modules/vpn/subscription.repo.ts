/** SQL of subscriptions and their grants (`vpn_subscriptions`, `subscription_protocols`). */
import type { Kysely, Selectable } from 'kysely';
import { dateRange, equals, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { chunks } from './render-input.ts';
import type { VpnSubscriptionsTable } from './tables.ts';

type Db = Kysely<Database>;

export const subscriptionFilters: Record<string, Filter> = {
  user_id: equals('vpn_subscriptions.user_id'),
  status: textFilter('vpn_subscriptions.status'),
  reset_strategy: textFilter('vpn_subscriptions.reset_strategy'),
  link_uuid: (eb, v: string) => eb('vpn_subscriptions.link_uuid', '=', v.toLowerCase()),
  node_protocol_id: (eb, v: number) =>
    eb.exists(eb.selectFrom('subscription_protocols as sp').select('sp.subscription_id').whereRef('sp.subscription_id', '=', 'vpn_subscriptions.id').where('sp.node_protocol_id', '=', v)),
  node_id: (eb, v: string) =>
    eb.exists(
      eb
        .selectFrom('subscription_protocols as sp')
        .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
        .select('sp.subscription_id')
        .whereRef('sp.subscription_id', '=', 'vpn_subscriptions.id')
        .where('np.node_id', '=', v),
    ),
  has_expiry: present('vpn_subscriptions.expires_at'),
  is_unlimited: (eb, v: boolean) => eb('vpn_subscriptions.traffic_limit_bytes', v ? '=' : '>', 0),
  online: equals('vpn_subscriptions.online', (v: boolean) => (v ? 1 : 0)),
  ...dateRange('expires_at', 'vpn_subscriptions.expires_at'),
  ...timestampFilters('vpn_subscriptions'),
};

export const subscriptionRepo = {
  find(db: Db, id: number): Promise<Selectable<VpnSubscriptionsTable> | undefined> {
    return db.selectFrom('vpn_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput): Promise<Page<Selectable<VpnSubscriptionsTable>>> {
    return paginate(db.selectFrom('vpn_subscriptions').selectAll('vpn_subscriptions'), input, {
      filters: subscriptionFilters,
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

  async grantsOf(db: Db, subscriptionIds: number[]): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    for (const part of chunks(subscriptionIds)) {
      const rows = await db
        .selectFrom('subscription_protocols')
        .select(['subscription_id', 'node_protocol_id'])
        .where('subscription_id', 'in', part)
        .orderBy('subscription_id')
        .orderBy('node_protocol_id')
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
