/**
 * The only SQL that writes `nodes`, for every kind. Side tables (`edge_nodes`, `core_nodes`…) stay
 * with their modules; the inventory row — name, cluster, status, last contact, version, labels —
 * changes only here.
 */
import { type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import { FLEET_STATUSES, type FleetStatus, NODE_KINDS } from '../../../contract/admin/fleet.ts';
import { jsonTextAt } from '../../db/dialect.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { dateRange, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database, NodeRow } from '../../db/schema.ts';
import { kindStatuses, STATUS_MAP } from './kinds.ts';

type Db = Kysely<Database>;
type Labels = Record<string, string>;

/** An inventory row with its labels parsed and its cluster's name. */
export type InventoryRecord = Omit<NodeRow, 'labels'> & { labels: Labels; cluster_name: string | null };

export type NewInventoryNode = Omit<NodeRow, 'labels'> & { labels?: Labels };

/** What may change on a node; `id` and `kind` never do. */
export type InventoryChange = Partial<Pick<NodeRow, 'name' | 'cluster_id' | 'status' | 'last_seen_at' | 'version' | 'updated_at'>> & { labels?: Labels };

/** Many last-seen times in one statement; more than this many per statement would strain bind limits. */
const TOUCH_CHUNK = 5000;

const stored = ({ labels, ...change }: InventoryChange) => (labels === undefined ? change : { ...change, labels: JSON.stringify(labels) });

const fleet = (db: Db) =>
  db.selectFrom('nodes').leftJoin('clusters', 'clusters.id', 'nodes.cluster_id').selectAll('nodes').select('clusters.name as cluster_name');

const parsed = (row: NodeRow & { cluster_name: string | null }): InventoryRecord => ({ ...row, labels: JSON.parse(row.labels) as Labels });

/** Shared statuses → each kind's own statuses that read as them; unknown own statuses read as `error`. */
const statusFilter: Filter = (eb: ExpressionBuilder<any, any>, value: string) => {
  const wanted = value.split(',').filter((v): v is FleetStatus => (FLEET_STATUSES as readonly string[]).includes(v));
  const conditions = NODE_KINDS.flatMap((kind) => {
    const own = kindStatuses(kind, wanted);
    const matches = own.length > 0 ? [eb.and([eb('nodes.kind', '=', kind), eb('nodes.status', 'in', own)])] : [];
    if (wanted.includes('error')) matches.push(eb.and([eb('nodes.kind', '=', kind), eb('nodes.status', 'not in', Object.keys(STATUS_MAP[kind]))]));
    return matches;
  });
  return conditions.length > 0 ? eb.or(conditions) : sql<SqlBool>`1 = 0`;
};

/** `key` or `key:value`, comma-separated; every pair must hold. */
const labelsFilter =
  (db: Db): Filter =>
  (eb, value: string) =>
    eb.and(
      value.split(',').map((pair) => {
        const colon = pair.indexOf(':');
        const at = jsonTextAt(db, 'nodes.labels', colon < 0 ? pair : pair.slice(0, colon));
        return colon < 0 ? eb(at, 'is not', null) : eb(at, '=', pair.slice(colon + 1));
      }),
    );

const fleetFilters = (db: Db): Record<string, Filter> => ({
  kind: textFilter('nodes.kind'),
  status: statusFilter,
  cluster_name: textFilter('clusters.name'),
  name: textFilter('nodes.name'),
  version: textFilter('nodes.version'),
  labels: labelsFilter(db),
  ...dateRange('last_seen_at', 'nodes.last_seen_at'),
  ...timestampFilters('nodes'),
});

export const inventoryRepo = {
  async insert(db: Db, node: NewInventoryNode): Promise<void> {
    await db
      .insertInto('nodes')
      .values({ ...node, labels: JSON.stringify(node.labels ?? {}) })
      .execute();
  },

  async find(db: Db, id: string): Promise<InventoryRecord | undefined> {
    const row = await fleet(db).where('nodes.id', '=', id).executeTakeFirst();
    return row && parsed(row);
  },

  async list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<InventoryRecord>> {
    const page = await paginate(withinScope(fleet(db), 'nodes.id', scope), input, {
      filters: fleetFilters(db),
      sortable: {
        name: 'nodes.name',
        kind: 'nodes.kind',
        cluster_name: 'clusters.name',
        version: 'nodes.version',
        last_seen_at: 'nodes.last_seen_at',
        inserted_at: 'nodes.inserted_at',
        updated_at: 'nodes.updated_at',
      },
      tieBreaker: 'nodes.id',
    });
    return { items: page.items.map(parsed), pagination: page.pagination };
  },

  async update(db: Db, id: string, change: InventoryChange): Promise<void> {
    if (Object.keys(change).length > 0) await db.updateTable('nodes').set(stored(change)).where('id', '=', id).execute();
  },

  /**
   * Compare-and-set of the status, so two reporters (or two instances sweeping) cannot both claim
   * one transition. `lastSeenBefore` also requires the node to be silent since then.
   */
  async setStatusIf(
    db: Db,
    id: string,
    from: string,
    change: InventoryChange & { status: string },
    options: { lastSeenBefore?: string } = {},
  ): Promise<boolean> {
    let q = db.updateTable('nodes').set(stored(change)).where('id', '=', id).where('status', '=', from);
    if (options.lastSeenBefore !== undefined) q = q.where('last_seen_at', '<', options.lastSeenBefore);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /**
   * Advances last_seen_at of many nodes of any kind, never moving one backwards (a status write may
   * have recorded a later time meanwhile).
   */
  async touchMany(db: Db, seen: Array<[nodeId: string, at: string]>): Promise<void> {
    for (let i = 0; i < seen.length; i += TOUCH_CHUNK) {
      const rows = seen.slice(i, i + TOUCH_CHUNK).map(([id, at]) => sql`(${id}, ${at})`);
      // VALUES columns are called column1, column2 on both engines.
      await sql`
        update nodes set last_seen_at = v.column2
        from (values ${sql.join(rows)}) as v
        where nodes.id = v.column1 and (nodes.last_seen_at is null or nodes.last_seen_at < v.column2)
      `.execute(db);
    }
  },

  /** Side tables keyed by the node id go with it (foreign keys cascade). */
  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  /** Nodes of every kind in the cluster: what its node limit counts. */
  async countInCluster(db: Db, clusterId: string): Promise<number> {
    const row = await db
      .selectFrom('nodes')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('cluster_id', '=', clusterId)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  },
};
