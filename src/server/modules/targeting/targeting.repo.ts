/**
 * The queries behind targeting: clusters and edge nodes matched with the list filters their own
 * modules declare (`clusterFilters`, `nodeFilters`), so a target means what those lists show.
 */
import type { Kysely } from 'kysely';
import type { ClusterFilters } from '../../../contract/admin/targeting.ts';
import { applyFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { clusterFilters } from '../clusters/cluster.repo.ts';
import { EDGE_AGENT_KIND } from '../inventory/kinds.ts';
import { nodeFilters } from '../nodes/node.repo.ts';

type Db = Kysely<Database>;

export type NodeScope = { clusterIds: string[] } | { nodeIds: string[] } | null;

export const targetingRepo = {
  async matchingClusters(db: Db, filters: ClusterFilters, names?: string[]): Promise<string[]> {
    let query = db.selectFrom('clusters').select('clusters.id');
    if (names) query = query.where('clusters.name', 'in', names);
    const rows = await applyFilters(query, filters, clusterFilters).orderBy('clusters.id').execute();
    return rows.map((r) => r.id);
  },

  /** Edge nodes in insertion order, with their cluster's name. */
  async matchingNodes(
    db: Db,
    filters: Record<string, unknown>,
    scope: NodeScope,
    onlyNodeId?: string,
  ): Promise<Array<{ id: string; clusterName: string | null }>> {
    let query = db
      .selectFrom('nodes')
      .innerJoin('edge_nodes', 'edge_nodes.node_id', 'nodes.id')
      .leftJoin('clusters', 'clusters.id', 'nodes.cluster_id')
      .select(['nodes.id', 'clusters.name as cluster_name'])
      .where('nodes.kind', '=', EDGE_AGENT_KIND);
    if (scope && 'clusterIds' in scope) query = query.where('nodes.cluster_id', 'in', scope.clusterIds);
    if (scope && 'nodeIds' in scope) query = query.where('nodes.id', 'in', scope.nodeIds);
    if (onlyNodeId !== undefined) query = query.where('nodes.id', '=', onlyNodeId);
    const rows = await applyFilters(query, filters, nodeFilters).orderBy('nodes.inserted_at').orderBy('nodes.id').execute();
    return rows.map((r) => ({ id: r.id, clusterName: r.cluster_name }));
  },
};
