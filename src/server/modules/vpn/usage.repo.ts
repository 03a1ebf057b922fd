/**
 * SQL of the traffic tables: per-minute usage rows, subscription counters, outbound counters,
 * session events and ingest idempotency keys. Every write is a multi-row statement (a VALUES list
 * joined into an UPDATE, or an upsert) so a batch of thousands costs a handful of round trips. The
 * same SQL runs on both engines: VALUES columns are called column1… on SQLite and Postgres alike,
 * and casts give Postgres the types its untyped parameters lack.
 */
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { dateFrom, dateUntil, equals, type Filter, type ListInput, type Page, paginate } from '../../db/listing.ts';
import { forUpdate } from '../../db/dialect.ts';
import type { VpnSubscriptionsTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;

/** Counters stop here instead of overflowing: JS reads them exactly and no engine can overflow. */
export const COUNTER_MAX = Number.MAX_SAFE_INTEGER;
const MAX = sql.lit(COUNTER_MAX);

// Bind-parameter limits (SQLite 32766, Postgres 65535) with room to spare.
const CHUNK = 2000;

const chunks = <T>(rows: T[], size = CHUNK): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
};

/** `a + b`, pinned at COUNTER_MAX; both operands are already ≤ COUNTER_MAX, so the sum fits bigint. */
const saturatingSum = (a: RawBuilder<unknown>, b: RawBuilder<unknown>) => sql`case when ${a} + ${b} > ${MAX} then ${MAX} else ${a} + ${b} end`;

const values = (rows: unknown[][], types: string[]) =>
  sql.join(rows.map((row) => sql`(${sql.join(row.map((v, i) => sql`cast(${v} as ${sql.raw(types[i]!)})`))})`));

/**
 * A VALUES list of integers written as literals: thousands of bound parameters cost more to build and
 * bind than the update itself, and integer literals carry their type on Postgres without casts.
 * Only safe integers get here (validated upstream); anything else is a bug, not input.
 */
const integerValues = (rows: number[][]) => {
  for (const row of rows) for (const v of row) if (!Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}`);
  return sql.raw(rows.map((row) => `(${row.join(',')})`).join(','));
};

export interface UsageRow {
  node_id: string;
  node_protocol_id: number;
  user_id: number;
  subscription_id: number;
  recorded_at: string;
  bytes_up: number;
  bytes_down: number;
}

export interface SubscriptionDelta {
  id: number;
  up: number;
  down: number;
}

export interface CountedSubscription {
  id: number;
  user_id: number;
  status: string;
  traffic_limit_bytes: number;
  used_up_bytes: number;
  used_down_bytes: number;
}

export interface SessionEventRow {
  node_id: string;
  user_id: number;
  protocol: string;
  event_type: string;
  occurred_at: string;
  ip_address: string | null;
  inserted_at: string;
}

const usageFilters: Record<string, Filter> = {
  subscription_id: equals('usage_records.subscription_id'),
  user_id: equals('usage_records.user_id'),
  node_id: equals('usage_records.node_id'),
  node_protocol_id: equals('usage_records.node_protocol_id'),
  recorded_at__gte: dateFrom('usage_records.recorded_at'),
  recorded_at__lte: dateUntil('usage_records.recorded_at'),
};

const sessionEventFilters: Record<string, Filter> = {
  user_id: equals('session_events.user_id'),
  node_id: equals('session_events.node_id'),
  event_type: equals('session_events.event_type'),
  protocol: equals('session_events.protocol'),
  occurred_at__gte: dateFrom('session_events.occurred_at'),
  occurred_at__lte: dateUntil('session_events.occurred_at'),
};

export const usageRepo = {
  /** True when the key is new; false when this node already pushed a batch with it on this route. */
  async claimBatch(db: Db, nodeId: string, route: string, key: string, now: string): Promise<boolean> {
    const row = await db
      .insertInto('ingest_batches')
      .values({ node_id: nodeId, route, idempotency_key: key, inserted_at: now })
      .onConflict((oc) => oc.columns(['node_id', 'route', 'idempotency_key']).doNothing())
      .returning('idempotency_key')
      .executeTakeFirst();
    return row !== undefined;
  },

  async pruneBatches(db: Db, before: string): Promise<number> {
    const result = await db.deleteFrom('ingest_batches').where('inserted_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  },

  /** Which of these node protocol ids belong to the node. */
  async ownedProtocolIds(db: Db, nodeId: string, ids: number[]): Promise<Set<number>> {
    const owned = new Set<number>();
    for (const part of chunks(ids, 10_000)) {
      const rows = await db.selectFrom('node_protocols').select('id').where('node_id', '=', nodeId).where('id', 'in', part).execute();
      for (const r of rows) owned.add(Number(r.id));
    }
    return owned;
  },

  /**
   * Owners of these subscriptions, rows locked in id order so concurrent batches touching the same
   * subscriptions queue up instead of deadlocking.
   */
  async lockSubscriptions(db: Db, ids: number[]): Promise<Map<number, number>> {
    const owners = new Map<number, number>();
    const sorted = [...ids].sort((a, b) => a - b);
    for (const part of chunks(sorted, 10_000)) {
      const rows = await forUpdate(db, db.selectFrom('vpn_subscriptions').select(['id', 'user_id']).where('id', 'in', part).orderBy('id')).execute();
      for (const r of rows) owners.set(Number(r.id), Number(r.user_id));
    }
    return owners;
  },

  /** Adds each row to its minute bucket; rows must be unique per key (aggregate first). */
  async upsertUsage(db: Db, rows: UsageRow[]): Promise<void> {
    for (const part of chunks(rows)) {
      await db
        .insertInto('usage_records')
        .values(part)
        .onConflict((oc) =>
          oc.columns(['node_protocol_id', 'user_id', 'subscription_id', 'recorded_at']).doUpdateSet({
            bytes_up: saturatingSum(sql.ref('usage_records.bytes_up'), sql.ref('excluded.bytes_up')) as never,
            bytes_down: saturatingSum(sql.ref('usage_records.bytes_down'), sql.ref('excluded.bytes_down')) as never,
          }),
        )
        .execute();
    }
  },

  /** Adds the deltas to used and lifetime counters; returns the counters after the addition. */
  async addToSubscriptions(db: Db, deltas: SubscriptionDelta[]): Promise<CountedSubscription[]> {
    const out: CountedSubscription[] = [];
    for (const part of chunks(deltas)) {
      const result = await sql<CountedSubscription>`
        update vpn_subscriptions set
          used_up_bytes = ${saturatingSum(sql.ref('vpn_subscriptions.used_up_bytes'), sql.ref('d.column2'))},
          used_down_bytes = ${saturatingSum(sql.ref('vpn_subscriptions.used_down_bytes'), sql.ref('d.column3'))},
          lifetime_used_bytes = ${saturatingSum(sql.ref('vpn_subscriptions.lifetime_used_bytes'), sql`d.column2 + d.column3`)}
        from (values ${integerValues(part.map((d) => [d.id, d.up, d.down]))}) as d
        where vpn_subscriptions.id = d.column1
        returning vpn_subscriptions.id, vpn_subscriptions.user_id, vpn_subscriptions.status, vpn_subscriptions.traffic_limit_bytes,
          vpn_subscriptions.used_up_bytes, vpn_subscriptions.used_down_bytes`.execute(db);
      out.push(
        ...result.rows.map((r) => ({
          ...r,
          id: Number(r.id),
          user_id: Number(r.user_id),
          traffic_limit_bytes: Number(r.traffic_limit_bytes),
          used_up_bytes: Number(r.used_up_bytes),
          used_down_bytes: Number(r.used_down_bytes),
        })),
      );
    }
    return out;
  },

  /** active → limited for these ids; returns the rows that actually changed (a racing admin edit wins). */
  async markLimited(db: Db, ids: number[], now: string): Promise<Array<Selectable<VpnSubscriptionsTable>>> {
    if (ids.length === 0) return [];
    return db
      .updateTable('vpn_subscriptions')
      .set({ status: 'limited', updated_at: now })
      .where('id', 'in', ids)
      .where('status', '=', 'active')
      .returningAll()
      .execute();
  },

  /** Adds per-tag deltas to the node's outbound counters; tags the node has no outbound for match nothing. */
  async addToOutbounds(db: Db, nodeId: string, deltas: Array<{ tag: string; up: number; down: number }>): Promise<number> {
    let matched = 0;
    for (const part of chunks(deltas)) {
      const result = await sql`
        update node_outbounds set
          traffic_bytes_up = ${saturatingSum(sql.ref('node_outbounds.traffic_bytes_up'), sql.ref('d.column2'))},
          traffic_bytes_down = ${saturatingSum(sql.ref('node_outbounds.traffic_bytes_down'), sql.ref('d.column3'))}
        from (values ${values(
          part.map((d) => [d.tag, d.up, d.down]),
          ['text', 'bigint', 'bigint'],
        )}) as d
        where node_outbounds.node_id = ${nodeId} and node_outbounds.tag = d.column1`.execute(db);
      matched += Number(result.numAffectedRows ?? 0);
    }
    return matched;
  },

  async insertSessionEvents(db: Db, rows: SessionEventRow[]): Promise<void> {
    for (const part of chunks(rows)) await db.insertInto('session_events').values(part).execute();
  },

  /** (subscription, protocol) pairs of these users' subscriptions that this node serves. */
  servedSubscriptions(db: Db, nodeId: string, userIds: number[]): Promise<Array<{ subscription_id: number; user_id: number; protocol: string }>> {
    if (userIds.length === 0) return Promise.resolve([]);
    return db
      .selectFrom('subscription_protocols as sp')
      .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
      .innerJoin('vpn_subscriptions as s', 's.id', 'sp.subscription_id')
      .select(['sp.subscription_id', 's.user_id', 'np.protocol'])
      .where('np.node_id', '=', nodeId)
      .where('s.user_id', 'in', userIds)
      .distinct()
      .execute();
  },

  /**
   * Applies each subscription's newest session state from this node. An online older than the
   * stored `online_at` changes nothing; an offline clears the flag only when this node is the one
   * that last reported the subscription online, so leaving one node hides no session on another.
   */
  async applyPresence(db: Db, nodeId: string, states: Array<{ subscriptionId: number; online: boolean; at: string }>): Promise<void> {
    const onlines = states.filter((s) => s.online).sort((a, b) => a.subscriptionId - b.subscriptionId);
    const offlines = states.filter((s) => !s.online).sort((a, b) => a.subscriptionId - b.subscriptionId);
    for (const part of chunks(onlines)) {
      await sql`
        update vpn_subscriptions set online = 1, online_at = d.column2, last_node_id = ${nodeId}
        from (values ${values(
          part.map((s) => [s.subscriptionId, s.at]),
          ['bigint', 'text'],
        )}) as d
        where vpn_subscriptions.id = d.column1 and (vpn_subscriptions.online_at is null or vpn_subscriptions.online_at <= d.column2)`.execute(db);
    }
    for (const part of chunks(offlines)) {
      await sql`
        update vpn_subscriptions set online = 0
        from (values ${values(
          part.map((s) => [s.subscriptionId, s.at]),
          ['bigint', 'text'],
        )}) as d
        where vpn_subscriptions.id = d.column1 and vpn_subscriptions.last_node_id = ${nodeId}
          and (vpn_subscriptions.online_at is null or vpn_subscriptions.online_at <= d.column2)`.execute(db);
    }
  },

  listUsage(db: Db, input: ListInput, scope: NodeScope): Promise<Page<UsageListRow>> {
    return paginate(withinScope(db.selectFrom('usage_records').selectAll(), 'usage_records.node_id', scope), input, {
      filters: usageFilters,
      sortable: {
        recorded_at: 'usage_records.recorded_at',
        bytes_up: 'usage_records.bytes_up',
        bytes_down: 'usage_records.bytes_down',
        id: 'usage_records.id',
      },
      tieBreaker: 'usage_records.id',
      defaultOrder: { column: 'recorded_at', direction: 'desc' },
    }) as Promise<Page<UsageListRow>>;
  },

  listSessionEvents(db: Db, input: ListInput, scope: NodeScope): Promise<Page<SessionEventListRow>> {
    return paginate(withinScope(db.selectFrom('session_events').selectAll(), 'session_events.node_id', scope), input, {
      filters: sessionEventFilters,
      sortable: { occurred_at: 'session_events.occurred_at', inserted_at: 'session_events.inserted_at', id: 'session_events.id' },
      tieBreaker: 'session_events.id',
      defaultOrder: { column: 'occurred_at', direction: 'desc' },
    }) as Promise<Page<SessionEventListRow>>;
  },
};

export interface UsageListRow extends UsageRow {
  id: number;
}

export interface SessionEventListRow extends SessionEventRow {
  id: number;
}
