import type { Kysely, SelectQueryBuilder, Updateable } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import { forUpdate } from '../../db/dialect.ts';
import type { Database } from '../../db/schema.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { TunnelRow, TunnelsTable } from '../../db/tables/tunnels.ts';

type Db = Kysely<Database>;

export type TunnelChange = Omit<Updateable<TunnelsTable>, 'id' | 'created_at'>;

/** A restricted caller sees a tunnel only when every one of its legs is on a node they may touch. */
function allLegsWithin<Q extends SelectQueryBuilder<Database, 'tunnels', any>>(query: Q, scope: NodeScope): Q {
  if (scope === null) return query;
  const narrowed = withinScope(withinScope(query, 'tunnels.ingress_node_id', scope), 'tunnels.egress_node_id', scope);
  return narrowed.where((eb) =>
    eb.or([eb('tunnels.relay_node_id', 'is', null), ...chunks([...scope]).map((ids) => eb('tunnels.relay_node_id', 'in', ids))]),
  ) as Q;
}

export const tunnelRepo = {
  async insert(db: Db, row: TunnelRow): Promise<void> {
    await db.insertInto('tunnels').values(row).execute();
  },

  find(db: Db, id: string, scope: NodeScope = null): Promise<TunnelRow | undefined> {
    return allLegsWithin(db.selectFrom('tunnels').selectAll().where('id', '=', id), scope).executeTakeFirst();
  },

  /** The row, locked until the transaction ends: legs of one tunnel are recorded one at a time. */
  findLocked(db: Db, id: string): Promise<TunnelRow | undefined> {
    return forUpdate(db, db.selectFrom('tunnels').selectAll().where('id', '=', id)).executeTakeFirst();
  },

  /** Newest first; with `nodeId`, only tunnels with a leg on that node. */
  list(db: Db, scope: NodeScope, nodeId?: string): Promise<TunnelRow[]> {
    let query = allLegsWithin(db.selectFrom('tunnels').selectAll(), scope);
    if (nodeId !== undefined)
      query = query.where((eb) => eb.or([eb('ingress_node_id', '=', nodeId), eb('egress_node_id', '=', nodeId), eb('relay_node_id', '=', nodeId)]));
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  },

  /** Tunnels that should be live (pending or active) with a leg on `nodeId`. */
  liveOnNode(db: Db, nodeId: string): Promise<TunnelRow[]> {
    return db
      .selectFrom('tunnels')
      .selectAll()
      .where('status', 'in', ['pending', 'active'])
      .where((eb) => eb.or([eb('ingress_node_id', '=', nodeId), eb('egress_node_id', '=', nodeId), eb('relay_node_id', '=', nodeId)]))
      .orderBy('id')
      .execute();
  },

  /** Pending tunnels: at least one leg is not pushed yet. */
  pending(db: Db): Promise<TunnelRow[]> {
    return db.selectFrom('tunnels').selectAll().where('status', '=', 'pending').orderBy('id').execute();
  },

  async update(db: Db, id: string, change: TunnelChange): Promise<boolean> {
    const result = await db.updateTable('tunnels').set(change).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('tunnels').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
