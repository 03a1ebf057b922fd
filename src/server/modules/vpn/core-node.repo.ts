/**
 * SQL of the Core slice of the inventory: reads of `nodes` rows of kind `core` with their
 * `core_nodes` facts, and writes of `core_nodes` (the `nodes` row is inventoryRepo's).
 */
import { type Insertable, type Kysely, sql, type Updateable } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { dateRange, equals, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database, NodeRow } from '../../db/schema.ts';
import type { CoreNodeEventData } from '../../events/catalog.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import { CORE_KIND } from '../inventory/kinds.ts';
import type { CoreNodesTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;

export type CoreNodeRecord = NodeRow &
  Omit<CoreNodesTable, 'node_id' | 'routing_rules' | 'allowed_destinations'> & {
    routing_rules: string;
    allowed_destinations: string;
    protocol_count: number;
    outbound_count: number;
  };

const protocolCount = sql<number>`(select count(*) from node_protocols np where np.node_id = nodes.id)`;
const outboundCount = sql<number>`(select count(*) from node_outbounds o where o.node_id = nodes.id)`;

const coreNodeFilters: Record<string, Filter> = {
  name: textFilter('nodes.name'),
  host: textFilter('core_nodes.host'),
  region: textFilter('core_nodes.region'),
  status: textFilter('nodes.status'),
  sync_status: textFilter('core_nodes.sync_status'),
  code: textFilter('core_nodes.code'),
  core_id: equals('core_nodes.core_id'),
  registered: present('core_nodes.auth_key_hash'),
  has_error: present('core_nodes.last_error'),
  ...dateRange('last_seen_at', 'nodes.last_seen_at'),
  ...timestampFilters('nodes'),
};

const coreNodes = (db: Db) =>
  db
    .selectFrom('nodes')
    .innerJoin('core_nodes', 'core_nodes.node_id', 'nodes.id')
    .selectAll('nodes')
    .select([
      'core_nodes.core_id',
      'core_nodes.code',
      'core_nodes.registration_secret_hash',
      'core_nodes.auth_key_hash',
      'core_nodes.host',
      'core_nodes.ip',
      'core_nodes.region',
      'core_nodes.sync_status',
      'core_nodes.revision',
      'core_nodes.applied_revision',
      'core_nodes.config_hash',
      'core_nodes.last_error',
      'core_nodes.routing_rules',
      'core_nodes.allowed_destinations',
      protocolCount.as('protocol_count'),
      outboundCount.as('outbound_count'),
    ])
    .where('nodes.kind', '=', CORE_KIND);

export const coreNodeRepo = {
  find(db: Db, id: string): Promise<CoreNodeRecord | undefined> {
    return coreNodes(db).where('nodes.id', '=', id).executeTakeFirst() as Promise<CoreNodeRecord | undefined>;
  },

  /** Locks the node's core row for the rest of the transaction (serialises with config bumps). */
  async lock(db: Db, id: string): Promise<CoreNodeRecord | undefined> {
    const locked = await forUpdate(db, db.selectFrom('core_nodes').select('node_id').where('node_id', '=', id)).executeTakeFirst();
    return locked ? coreNodeRepo.find(db, id) : undefined;
  },

  findByCode(db: Db, code: string): Promise<CoreNodeRecord | undefined> {
    return coreNodes(db).where('core_nodes.code', '=', code).executeTakeFirst() as Promise<CoreNodeRecord | undefined>;
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<CoreNodeRecord>> {
    return paginate(withinScope(coreNodes(db), 'nodes.id', scope), input, {
      filters: coreNodeFilters,
      sortable: {
        name: 'nodes.name',
        core_id: 'core_nodes.core_id',
        host: 'core_nodes.host',
        region: 'core_nodes.region',
        status: 'nodes.status',
        sync_status: 'core_nodes.sync_status',
        revision: 'core_nodes.revision',
        last_seen_at: 'nodes.last_seen_at',
        inserted_at: 'nodes.inserted_at',
        updated_at: 'nodes.updated_at',
      },
      tieBreaker: 'nodes.id',
    }) as Promise<Page<CoreNodeRecord>>;
  },

  async nextCoreId(db: Db): Promise<number> {
    const row = await db
      .selectFrom('core_nodes')
      .select((eb) => eb.fn.max('core_id').as('max'))
      .executeTakeFirst();
    return Number(row?.max ?? 0) + 1;
  },

  async updateCore(db: Db, id: string, change: Omit<Updateable<CoreNodesTable>, 'node_id' | 'core_id'>): Promise<void> {
    if (Object.keys(change).length > 0) await db.updateTable('core_nodes').set(change).where('node_id', '=', id).execute();
  },

  async insertCore(db: Db, row: Insertable<CoreNodesTable>): Promise<void> {
    await db.insertInto('core_nodes').values(row).execute();
  },

  sessionByKeyHash(db: Db, hash: string): Promise<{ node_id: string; core_id: number } | undefined> {
    return db.selectFrom('core_nodes').select(['node_id', 'core_id']).where('auth_key_hash', '=', hash).executeTakeFirst();
  },

  /** Core nodes in a live status whose last heartbeat is older than `cutoff`. */
  async findStale(db: Db, cutoff: string): Promise<Array<{ id: string; status: string }>> {
    return db
      .selectFrom('nodes')
      .select(['id', 'status'])
      .where('kind', '=', CORE_KIND)
      .where('status', 'in', ['online', 'error', 'pending'])
      .where('last_seen_at', 'is not', null)
      .where('last_seen_at', '<', cutoff)
      .execute();
  },
};

export function coreNodeEventData(row: CoreNodeRecord): CoreNodeEventData {
  return {
    node_id: row.id,
    core_id: Number(row.core_id),
    name: row.name,
    code: row.code,
    host: row.host,
    ip: row.ip,
    region: row.region,
    status: row.status,
    sync_status: row.sync_status,
    revision: Number(row.revision),
    applied_revision: row.applied_revision === null ? null : Number(row.applied_revision),
    last_seen_at: toSecondPrecision(row.last_seen_at),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
