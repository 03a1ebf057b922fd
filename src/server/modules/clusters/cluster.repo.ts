import { type Kysely, sql } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import type { ClusterRow, Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { atLeast, atMost, equals, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';

const nodeCount = sql<number>`(select count(*) from nodes n where n.cluster_id = clusters.id)`;

/** Cluster filters; also used by command/self-update targeting (`cluster_filters`). */
export const clusterFilters: Record<string, Filter> = {
  name: textFilter('clusters.name'),
  ipv4_range: textFilter('clusters.ipv4_range'),
  node_limit: equals('clusters.node_limit'),
  has_node_limit: present('clusters.node_limit'),
  node_count: (eb, v: number) => eb(nodeCount, '=', v),
  node_count__gte: (eb, v: number) => eb(nodeCount, '>=', v),
  node_count__lte: (eb, v: number) => eb(nodeCount, '<=', v),
  node_limit__gte: atLeast('clusters.node_limit'),
  node_limit__lte: atMost('clusters.node_limit'),
  ...timestampFilters('clusters'),
};

export interface NodeSummaryRow {
  id: string;
  cluster_id: string;
  status: string;
  id_type: string | null;
}

export type Db = Kysely<Database>;

export const clusterRepo = {
  async insert(db: Db, row: ClusterRow): Promise<void> {
    await db.insertInto('clusters').values(row).execute();
  },

  findByName(db: Db, name: string): Promise<ClusterRow | undefined> {
    return db.selectFrom('clusters').selectAll().where('name', '=', name).executeTakeFirst();
  },

  /** The cluster row, locked for the rest of the transaction. */
  lockByName(db: Db, name: string): Promise<ClusterRow | undefined> {
    return forUpdate(db, db.selectFrom('clusters').selectAll().where('name', '=', name)).executeTakeFirst();
  },

  findById(db: Db, id: string): Promise<ClusterRow | undefined> {
    return db.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput): Promise<Page<ClusterRow>> {
    return paginate(db.selectFrom('clusters').selectAll('clusters'), input, {
      filters: clusterFilters,
      sortable: {
        name: 'clusters.name',
        ipv4_range: 'clusters.ipv4_range',
        node_limit: 'clusters.node_limit',
        inserted_at: 'clusters.inserted_at',
        updated_at: 'clusters.updated_at',
      },
      tieBreaker: 'clusters.id',
    });
  },

  async allRanges(db: Db): Promise<string[]> {
    const rows = await db.selectFrom('clusters').select('ipv4_range').execute();
    return rows.map((r) => r.ipv4_range);
  },

  /** Node summaries of many clusters in one query. */
  /** Every node of each cluster, counted (capacity is a fact of the cluster, whoever asks). */
  async nodeCounts(db: Db, clusterIds: string[]): Promise<Map<string, number>> {
    if (clusterIds.length === 0) return new Map();
    const rows = await db
      .selectFrom('nodes')
      .select(['nodes.cluster_id', (eb) => eb.fn.countAll().as('count')])
      .where('nodes.cluster_id', 'in', clusterIds)
      .groupBy('nodes.cluster_id')
      .execute();
    return new Map(rows.map((r) => [r.cluster_id!, Number(r.count)]));
  },

  /** The clusters' nodes that are in the scope. */
  nodeSummaries(db: Db, clusterIds: string[], scope: NodeScope): Promise<NodeSummaryRow[]> {
    if (clusterIds.length === 0) return Promise.resolve([]);
    return withinScope(
      db
        .selectFrom('nodes')
        .leftJoin('edge_nodes', 'edge_nodes.node_id', 'nodes.id')
        .select(['nodes.id', 'nodes.cluster_id as cluster_id', 'nodes.status', 'edge_nodes.id_type'])
        .where('nodes.cluster_id', 'in', clusterIds),
      'nodes.id',
      scope,
    )
      .orderBy('nodes.inserted_at')
      .orderBy('nodes.id')
      .execute() as Promise<NodeSummaryRow[]>;
  },

  async updateNodeLimit(db: Db, id: string, nodeLimit: number | null, updatedAt: string): Promise<void> {
    await db.updateTable('clusters').set({ node_limit: nodeLimit, updated_at: updatedAt }).where('id', '=', id).execute();
  },

  async delete(db: Db, id: string): Promise<void> {
    await db.deleteFrom('clusters').where('id', '=', id).execute();
  },
};
