/** SQL of node outbounds (`node_outbounds`). */
import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import { equals, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { NodeOutboundsTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;
export type OutboundRow = Selectable<NodeOutboundsTable>;

const outboundFilters: Record<string, Filter> = {
  node_id: equals('node_outbounds.node_id'),
  tag: textFilter('node_outbounds.tag'),
  protocol: textFilter('node_outbounds.protocol'),
  ...timestampFilters('node_outbounds'),
};

export const outboundRepo = {
  /** Returns the new outbound's id. */
  async insert(db: Db, row: Insertable<NodeOutboundsTable>): Promise<number> {
    const inserted = await db.insertInto('node_outbounds').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(inserted.id);
  },

  findById(db: Db, id: number): Promise<OutboundRow | undefined> {
    return db.selectFrom('node_outbounds').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<OutboundRow>> {
    return paginate(withinScope(db.selectFrom('node_outbounds').selectAll('node_outbounds'), 'node_outbounds.node_id', scope), input, {
      filters: outboundFilters,
      sortable: {
        id: 'node_outbounds.id',
        tag: 'node_outbounds.tag',
        protocol: 'node_outbounds.protocol',
        traffic_bytes_up: 'node_outbounds.traffic_bytes_up',
        traffic_bytes_down: 'node_outbounds.traffic_bytes_down',
        inserted_at: 'node_outbounds.inserted_at',
        updated_at: 'node_outbounds.updated_at',
      },
      tieBreaker: 'node_outbounds.id',
      defaultOrder: { column: 'node_outbounds.id', direction: 'asc' },
    });
  },

  /** The outbound's node id, read without a lock. */
  findNodeId(db: Db, id: number): Promise<{ node_id: string } | undefined> {
    return db.selectFrom('node_outbounds').select('node_id').where('id', '=', id).executeTakeFirst();
  },

  /** The outbound row, locked for the rest of the transaction. */
  lockById(db: Db, id: number): Promise<OutboundRow | undefined> {
    return forUpdate(db, db.selectFrom('node_outbounds').selectAll().where('id', '=', id)).executeTakeFirst();
  },

  async update(db: Db, id: number, change: Updateable<NodeOutboundsTable>): Promise<void> {
    await db.updateTable('node_outbounds').set(change).where('id', '=', id).execute();
  },

  async delete(db: Db, id: number): Promise<void> {
    await db.deleteFrom('node_outbounds').where('id', '=', id).execute();
  },

  async tagsOfNode(db: Db, nodeId: string): Promise<string[]> {
    const rows = await db.selectFrom('node_outbounds').select('tag').where('node_id', '=', nodeId).execute();
    return rows.map((r) => r.tag);
  },

  /** The node's stored routing rules JSON (reads `core_nodes`). */
  routingRulesOf(db: Db, nodeId: string): Promise<{ routing_rules: string } | undefined> {
    return db.selectFrom('core_nodes').select('routing_rules').where('node_id', '=', nodeId).executeTakeFirst();
  },
};
