/**
 * SQL of the edge-agent slice of the inventory: reads of `nodes` rows of kind `edge-agent` with
 * their `edge_nodes` facts, and writes of `edge_nodes` (the `nodes` row is inventoryRepo's).
 */
import type { Kysely } from 'kysely';
import type { Database, EdgeNodeRow, NodeRow } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { dateRange, equals, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import { EDGE_AGENT_KIND } from '../inventory/kinds.ts';

type Db = Kysely<Database>;

/** One edge node as its faces see it: inventory row, edge facts and its cluster's name. */
export type EdgeNodeRecord = NodeRow & Omit<EdgeNodeRow, 'node_id'> & { cluster_name: string | null };

export const nodeFilters: Record<string, Filter> = {
  id_type: equals('edge_nodes.id_type'),
  status: equals('nodes.status'),
  version: textFilter('nodes.version'),
  self_update_enabled: equals('edge_nodes.self_update_enabled', (v: boolean) => (v ? 1 : 0)),
  // Join-based cluster filters ignore comma lists (edge-admin spec §4.4).
  cluster_name: textFilter('clusters.name', { inList: false }),
  ...dateRange('last_seen_at', 'nodes.last_seen_at'),
  ...timestampFilters('nodes'),
};

const edgeNodes = (db: Db) =>
  db
    .selectFrom('nodes')
    .innerJoin('edge_nodes', 'edge_nodes.node_id', 'nodes.id')
    .leftJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .selectAll('nodes')
    .select([
      'edge_nodes.id_type',
      'edge_nodes.http_port',
      'edge_nodes.ssh_port',
      'edge_nodes.host_metrics_port',
      'edge_nodes.wireguard_metrics_port',
      'edge_nodes.http_proxy_port',
      'edge_nodes.socks5_proxy_port',
      'edge_nodes.self_update_enabled',
      'edge_nodes.api_token_hash',
      'edge_nodes.api_token_enc',
      'edge_nodes.proxy_password_enc',
      'clusters.name as cluster_name',
    ])
    .where('nodes.kind', '=', EDGE_AGENT_KIND);

export const nodeRepo = {
  find(db: Db, id: string): Promise<EdgeNodeRecord | undefined> {
    return edgeNodes(db).where('nodes.id', '=', id).executeTakeFirst() as Promise<EdgeNodeRecord | undefined>;
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<EdgeNodeRecord>> {
    return paginate(withinScope(edgeNodes(db), 'nodes.id', scope), input, {
      filters: nodeFilters,
      sortable: {
        id_type: 'edge_nodes.id_type',
        status: 'nodes.status',
        version: 'nodes.version',
        self_update_enabled: 'edge_nodes.self_update_enabled',
        last_seen_at: 'nodes.last_seen_at',
        inserted_at: 'nodes.inserted_at',
        updated_at: 'nodes.updated_at',
      },
      tieBreaker: 'nodes.id',
    }) as Promise<Page<EdgeNodeRecord>>;
  },

  /** The edge facts of a node whose inventory row (inventoryRepo.insert) exists. */
  async insertEdge(db: Db, edge: EdgeNodeRow): Promise<void> {
    await db.insertInto('edge_nodes').values(edge).execute();
  },

  async updateEdge(db: Db, id: string, edge: Partial<Omit<EdgeNodeRow, 'node_id'>>): Promise<void> {
    if (Object.keys(edge).length > 0) await db.updateTable('edge_nodes').set(edge).where('node_id', '=', id).execute();
  },

  /** What authenticating an agent needs, by token hash. */
  sessionByTokenHash(
    db: Db,
    hash: string,
  ): Promise<{ id: string; cluster_id: string | null; status: string; api_token_enc: string; proxy_password_enc: string } | undefined> {
    return db
      .selectFrom('edge_nodes')
      .innerJoin('nodes', 'nodes.id', 'edge_nodes.node_id')
      .select(['nodes.id', 'nodes.cluster_id', 'nodes.status', 'edge_nodes.api_token_enc', 'edge_nodes.proxy_password_enc'])
      .where('edge_nodes.api_token_hash', '=', hash)
      .executeTakeFirst();
  },

  /** Status and sealed secrets: all a heartbeat needs to read. */
  heartbeatView(db: Db, id: string): Promise<{ status: string; api_token_enc: string; proxy_password_enc: string } | undefined> {
    return db
      .selectFrom('nodes')
      .innerJoin('edge_nodes', 'edge_nodes.node_id', 'nodes.id')
      .select(['nodes.status', 'edge_nodes.api_token_enc', 'edge_nodes.proxy_password_enc'])
      .where('nodes.id', '=', id)
      .executeTakeFirst();
  },

  async tokenHashOf(db: Kysely<Database>, nodeId: string): Promise<string | null> {
    const row = await db.selectFrom('edge_nodes').select('api_token_hash').where('node_id', '=', nodeId).executeTakeFirst();
    return row?.api_token_hash ?? null;
  },

  /** Edge nodes of `clusterIds` not yet unreachable whose last contact is before `cutoff` (or never). */
  async findStale(db: Db, cutoff: string, clusterIds: string[]): Promise<string[]> {
    if (clusterIds.length === 0) return [];
    const rows = await db
      .selectFrom('nodes')
      .select('id')
      .where('kind', '=', EDGE_AGENT_KIND)
      .where('cluster_id', 'in', clusterIds)
      .where('status', '!=', 'unreachable')
      .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', cutoff)]))
      .execute();
    return rows.map((r) => r.id);
  },
};
