import type { Kysely } from 'kysely';
import type { AliasRow, Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { equals, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';

type Db = Kysely<Database>;

export interface AliasRecord extends AliasRow {
  cluster_name: string;
}

const aliasFilters: Record<string, Filter> = {
  name: textFilter('aliases.name'),
  node_id: equals('aliases.node_id'),
  // Join-based cluster filters ignore comma lists (edge-admin spec §4.4).
  cluster_name: textFilter('clusters.name', { inList: false }),
  ...timestampFilters('aliases'),
};

const withCluster = (db: Db) =>
  db.selectFrom('aliases').innerJoin('clusters', 'clusters.id', 'aliases.cluster_id').selectAll('aliases').select('clusters.name as cluster_name');

export const aliasRepo = {
  async insert(db: Db, row: AliasRow): Promise<void> {
    await db.insertInto('aliases').values(row).execute();
  },

  find(db: Db, id: string): Promise<AliasRecord | undefined> {
    return withCluster(db).where('aliases.id', '=', id).executeTakeFirst();
  },

  /** Aliases of many nodes in one query, oldest first. */
  forNodes(db: Db, nodeIds: string[]): Promise<AliasRecord[]> {
    if (nodeIds.length === 0) return Promise.resolve([]);
    return withCluster(db).where('aliases.node_id', 'in', nodeIds).orderBy('aliases.inserted_at').orderBy('aliases.id').execute();
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<AliasRecord>> {
    return paginate(withinScope(withCluster(db), 'aliases.node_id', scope), input, {
      filters: aliasFilters,
      sortable: { name: 'aliases.name', inserted_at: 'aliases.inserted_at', updated_at: 'aliases.updated_at' },
      tieBreaker: 'aliases.id',
    });
  },

  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('aliases').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  async deleteForNode(db: Db, nodeId: string): Promise<void> {
    await db.deleteFrom('aliases').where('node_id', '=', nodeId).execute();
  },
};
