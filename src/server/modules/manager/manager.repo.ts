/**
 * The SQL of the manager face's side tables: `manager_nodes` (a node's manager facts, keyed by its
 * inventory id) and `manager_events`. The inventory row itself is written by `inventoryRepo`.
 */
import { type Kysely, sql } from 'kysely';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { Database } from '../../db/schema.ts';
import type { ManagerEventRow, ManagerNodeRow, NewManagerEvent } from '../../db/tables/manager.ts';

type Db = Kysely<Database>;

/** A manager node: its inventory row joined with its manager facts. */
export type ManagerNodeRecord = ManagerNodeRow & {
  kind: string;
  name: string;
  status: string;
  last_seen_at: string | null;
  inserted_at: string;
  updated_at: string;
};

export type ManagerNodeChange = Partial<Omit<ManagerNodeRow, 'node_id' | 'device_type'>>;

const joined = (db: Db) =>
  db
    .selectFrom('manager_nodes')
    .innerJoin('nodes', 'nodes.id', 'manager_nodes.node_id')
    .selectAll('manager_nodes')
    .select(['nodes.kind', 'nodes.name', 'nodes.status', 'nodes.last_seen_at', 'nodes.inserted_at', 'nodes.updated_at']);

/** Rows per sampled-stats statement (3 parameters each, well under either engine's limit). */
const STATS_CHUNK = 500;

export const managerRepo = {
  async insert(db: Db, row: ManagerNodeRow): Promise<void> {
    await db.insertInto('manager_nodes').values(row).execute();
  },

  find(db: Db, id: string): Promise<ManagerNodeRecord | undefined> {
    return joined(db).where('manager_nodes.node_id', '=', id).executeTakeFirst();
  },

  findByTokenHash(db: Db, hash: string): Promise<ManagerNodeRecord | undefined> {
    return joined(db).where('manager_nodes.registration_token_hash', '=', hash).executeTakeFirst();
  },

  /** Oldest first, as the manager lists them. */
  list(db: Db, filter: { deviceType?: string }, scope: NodeScope): Promise<ManagerNodeRecord[]> {
    let q = withinScope(joined(db), 'manager_nodes.node_id', scope);
    if (filter.deviceType !== undefined) q = q.where('manager_nodes.device_type', '=', filter.deviceType);
    return q.orderBy('nodes.inserted_at').orderBy('manager_nodes.node_id').execute();
  },

  /** Writes sampled `stats` of many nodes: one statement per chunk. */
  async saveStats(db: Db, samples: Array<[nodeId: string, stats: string, at: string]>): Promise<void> {
    for (let i = 0; i < samples.length; i += STATS_CHUNK) {
      const rows = samples.slice(i, i + STATS_CHUNK).map(([id, stats, at]) => sql`(${id}, ${stats}, ${at})`);
      // VALUES columns are called column1, column2… on both engines.
      await sql`
        update manager_nodes set last_stats = v.column2, last_stats_at = v.column3
        from (values ${sql.join(rows)}) as v
        where manager_nodes.node_id = v.column1
      `.execute(db);
    }
  },

  async update(db: Db, id: string, change: ManagerNodeChange): Promise<void> {
    if (Object.keys(change).length > 0) await db.updateTable('manager_nodes').set(change).where('node_id', '=', id).execute();
  },

  /** Ids of the nodes whose live session the instance holds (or held before it stopped). */
  async heldBy(db: Db, instanceId: string): Promise<string[]> {
    const rows = await db.selectFrom('manager_nodes').select('node_id').where('held_by', '=', instanceId).execute();
    return rows.map((row) => row.node_id);
  },

  /** Clears the holder only if it is still `holder` (the node may have reconnected elsewhere). */
  async release(db: Db, id: string, holder: string | null): Promise<boolean> {
    const q = db.updateTable('manager_nodes').set({ held_by: null }).where('node_id', '=', id);
    const result = await (holder === null ? q.where('held_by', 'is', null) : q.where('held_by', '=', holder)).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /** `online` nodes last seen before `cutoff` (or never) whose holder is none of `liveInstanceIds`. */
  orphaned(db: Db, cutoff: string, liveInstanceIds: string[]): Promise<Array<{ node_id: string; held_by: string | null }>> {
    let q = db
      .selectFrom('manager_nodes')
      .innerJoin('nodes', 'nodes.id', 'manager_nodes.node_id')
      .select(['manager_nodes.node_id', 'manager_nodes.held_by'])
      .where('nodes.status', '=', 'online')
      .where((eb) => eb.or([eb('nodes.last_seen_at', 'is', null), eb('nodes.last_seen_at', '<', cutoff)]));
    if (liveInstanceIds.length > 0) {
      q = q.where((eb) => eb.or([eb('manager_nodes.held_by', 'is', null), eb('manager_nodes.held_by', 'not in', liveInstanceIds)]));
    }
    return q.orderBy('manager_nodes.node_id').execute();
  },

  async insertEvents(db: Db, events: NewManagerEvent[]): Promise<void> {
    if (events.length > 0) await db.insertInto('manager_events').values(events).execute();
  },

  /** A node's events, newest first (the events API lists them with its own filters). */
  eventsOf(db: Db, nodeId: string, limit = 100): Promise<ManagerEventRow[]> {
    return db.selectFrom('manager_events').selectAll().where('node_id', '=', nodeId).orderBy('id', 'desc').limit(limit).execute();
  },
};
