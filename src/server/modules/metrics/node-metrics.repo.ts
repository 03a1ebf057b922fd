import type { Kysely } from 'kysely';
import type { MetricsType } from '../../../contract/agents/metrics.ts';
import type { Database } from '../../db/schema.ts';
import type { NodeMetricsTable } from '../../db/tables/nodes.ts';

export type Db = Kysely<Database>;

export type SnapshotRow = NodeMetricsTable;

export interface MetricsSubjectRow {
  id: string;
  cluster_name: string | null;
}

export const nodeMetricsRepo = {
  /**
   * One statement: the first push of a (node, type) inserts with `id`, later pushes replace text
   * and time and keep the original id, so the row's id is stable for the node's lifetime.
   */
  upsert(db: Db, row: SnapshotRow): Promise<Pick<SnapshotRow, 'id' | 'node_id' | 'metrics_type' | 'updated_at'>> {
    return db
      .insertInto('node_metrics')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['node_id', 'metrics_type']).doUpdateSet((eb) => ({
          metrics_text: eb.ref('excluded.metrics_text'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .returning(['id', 'node_id', 'metrics_type', 'updated_at'])
      .executeTakeFirstOrThrow();
  },

  find(db: Db, nodeId: string, type: MetricsType): Promise<SnapshotRow | undefined> {
    return db.selectFrom('node_metrics').selectAll().where('node_id', '=', nodeId).where('metrics_type', '=', type).executeTakeFirst();
  },

  findMany(db: Db, nodeId: string, types: MetricsType[]): Promise<SnapshotRow[]> {
    return db.selectFrom('node_metrics').selectAll().where('node_id', '=', nodeId).where('metrics_type', 'in', types).execute();
  },

  subject(db: Db, nodeId: string): Promise<MetricsSubjectRow | undefined> {
    return db
      .selectFrom('nodes')
      .leftJoin('clusters', 'clusters.id', 'nodes.cluster_id')
      .select(['nodes.id', 'clusters.name as cluster_name'])
      .where('nodes.id', '=', nodeId)
      .executeTakeFirst();
  },
};
