import type { Kysely } from 'kysely';
import type { Database, InstanceRow } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';

export type Db = Kysely<Database>;

export interface ClusterCountRow {
  id: string;
  name: string;
  node_count: number;
}

export const instanceRepo = {
  /** Joins or re-joins the admin cluster; a restart keeps the row and takes a new `started_at`. */
  async upsert(db: Db, row: InstanceRow): Promise<void> {
    await db
      .insertInto('instances')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          name: row.name,
          max_wireguard_peers: row.max_wireguard_peers,
          version: row.version,
          started_at: row.started_at,
          heartbeat_at: row.heartbeat_at,
        }),
      )
      .execute();
  },

  /** False when the row is gone (pruned by a peer while this instance was paused). */
  async heartbeat(db: Db, id: string, at: string): Promise<boolean> {
    const result = await db.updateTable('instances').set({ heartbeat_at: at }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  async delete(db: Db, id: string): Promise<void> {
    await db.deleteFrom('instances').where('id', '=', id).execute();
  },

  async pruneOlderThan(db: Db, cutoff: string): Promise<void> {
    await db.deleteFrom('instances').where('heartbeat_at', '<', cutoff).execute();
  },

  all(db: Db): Promise<InstanceRow[]> {
    return db.selectFrom('instances').selectAll().orderBy('name').orderBy('id').execute();
  },

  live(db: Db, cutoff: string): Promise<InstanceRow[]> {
    return db.selectFrom('instances').selectAll().where('heartbeat_at', '>=', cutoff).orderBy('name').orderBy('id').execute();
  },

  /** Every cluster with its node count, empty clusters included. */
  async clusterLoads(db: Db): Promise<ClusterCountRow[]> {
    const rows = await db
      .selectFrom('clusters')
      .leftJoin('nodes', 'nodes.cluster_id', 'clusters.id')
      .select((eb) => ['clusters.id', 'clusters.name', eb.fn.count<number>('nodes.id').as('node_count')])
      .groupBy(['clusters.id', 'clusters.name'])
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, node_count: Number(r.node_count) }));
  },

  async countNodes(db: Db): Promise<number> {
    const row = await db
      .selectFrom('nodes')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  },

  /** Every node that belongs to a cluster, in the order the cluster views list them. */
  /** Nodes in a cluster, of those in the scope. */
  clusteredNodes(db: Db, scope: NodeScope): Promise<{ id: string; cluster_id: string }[]> {
    return withinScope(db.selectFrom('nodes').select(['id', 'cluster_id']).where('cluster_id', 'is not', null), 'nodes.id', scope)
      .orderBy('inserted_at')
      .orderBy('id')
      .execute() as Promise<{ id: string; cluster_id: string }[]>;
  },
};
