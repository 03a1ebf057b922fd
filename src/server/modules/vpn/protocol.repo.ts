/** SQL of node protocols (`node_protocols`). */
import { type Insertable, type Kysely, sql, type Updateable } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import { equals, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { ProtocolRow } from './protocol-spec.ts';
import type { NodeProtocolsTable } from '../../db/tables/vpn.ts';

type Db = Kysely<Database>;
export type ProtocolRecord = ProtocolRow & { subscription_count: number };

const subscriptionCount = sql<number>`(select count(*) from subscription_protocols sp where sp.node_protocol_id = node_protocols.id)`;

const protocolFilters: Record<string, Filter> = {
  node_id: equals('node_protocols.node_id'),
  protocol: textFilter('node_protocols.protocol'),
  transport: textFilter('node_protocols.transport'),
  security: textFilter('node_protocols.security'),
  port: equals('node_protocols.port'),
  enabled: equals('node_protocols.enabled', (v: boolean) => (v ? 1 : 0)),
  subscription_id: (eb, v: number) =>
    eb.exists(
      eb
        .selectFrom('subscription_protocols as sp')
        .select('sp.node_protocol_id')
        .whereRef('sp.node_protocol_id', '=', 'node_protocols.id')
        .where('sp.subscription_id', '=', v),
    ),
  ...timestampFilters('node_protocols'),
};

const protocols = (db: Db) => db.selectFrom('node_protocols').selectAll('node_protocols').select(subscriptionCount.as('subscription_count'));

export const protocolRepo = {
  /** Returns the new protocol's id. */
  async insert(db: Db, row: Insertable<NodeProtocolsTable>): Promise<number> {
    const inserted = await db.insertInto('node_protocols').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(inserted.id);
  },

  findById(db: Db, id: number): Promise<ProtocolRecord | undefined> {
    return protocols(db).where('node_protocols.id', '=', id).executeTakeFirst() as Promise<ProtocolRecord | undefined>;
  },

  async list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<ProtocolRecord>> {
    const page = await paginate(withinScope(protocols(db), 'node_protocols.node_id', scope), input, {
      filters: protocolFilters,
      sortable: {
        id: 'node_protocols.id',
        node_id: 'node_protocols.node_id',
        protocol: 'node_protocols.protocol',
        port: 'node_protocols.port',
        inserted_at: 'node_protocols.inserted_at',
        updated_at: 'node_protocols.updated_at',
      },
      tieBreaker: 'node_protocols.id',
      defaultOrder: { column: 'node_protocols.id', direction: 'asc' },
    });
    return { items: page.items as ProtocolRecord[], pagination: page.pagination };
  },

  /** The protocol row, locked for the rest of the transaction. */
  lockById(db: Db, id: number): Promise<ProtocolRow | undefined> {
    return forUpdate(db, db.selectFrom('node_protocols').selectAll().where('id', '=', id)).executeTakeFirst();
  },

  async update(db: Db, id: number, change: Updateable<NodeProtocolsTable>): Promise<void> {
    await db.updateTable('node_protocols').set(change).where('id', '=', id).execute();
  },

  async delete(db: Db, id: number): Promise<void> {
    await db.deleteFrom('node_protocols').where('id', '=', id).execute();
  },

  /** Those of `ids` that exist on nodes in the scope, locked so they cannot vanish meanwhile. */
  async lockExisting(db: Db, ids: number[], scope: NodeScope): Promise<number[]> {
    const rows = await forUpdate(
      db,
      withinScope(db.selectFrom('node_protocols').select('id').where('id', 'in', ids), 'node_protocols.node_id', scope),
    ).execute();
    return rows.map((r) => Number(r.id));
  },

  async idsOfNode(db: Db, nodeId: string): Promise<number[]> {
    const rows = await db.selectFrom('node_protocols').select('id').where('node_id', '=', nodeId).execute();
    return rows.map((r) => Number(r.id));
  },

  /** Any enabled mtproto protocol of the node, other than `exceptId`. */
  findEnabledMtproto(db: Db, nodeId: string, exceptId: number | null): Promise<{ id: number } | undefined> {
    let q = db.selectFrom('node_protocols').select('id').where('node_id', '=', nodeId).where('protocol', '=', 'mtproto').where('enabled', '=', 1);
    if (exceptId !== null) q = q.where('id', '!=', exceptId);
    return q.executeTakeFirst();
  },
};
