/** The SQL of `manager_events`: the events API's filtered pages, the unacknowledged count, acks and pruning. */
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import type { Database } from '../../db/schema.ts';
import type { ManagerEventRow } from '../../db/tables/manager.ts';

type Db = Kysely<Database>;

export interface ManagerEventFilter {
  nodeId?: string;
  severity?: string;
  category?: string;
  flowId?: string;
  search?: string;
  from?: string;
  to?: string;
}

/** The text matched literally: `%`, `_` and the escape character itself lose their LIKE meaning. */
const likeContaining = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function filtered<Q extends SelectQueryBuilder<Database, 'manager_events', any>>(query: Q, filter: ManagerEventFilter, scope: NodeScope): Q {
  let q = withinScope(query, 'manager_events.node_id', scope);
  if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId) as Q;
  if (filter.severity !== undefined) q = q.where('severity', '=', filter.severity) as Q;
  if (filter.category !== undefined) q = q.where('category', '=', filter.category) as Q;
  if (filter.flowId !== undefined) q = q.where('flow_id', '=', filter.flowId) as Q;
  if (filter.from !== undefined) q = q.where('created_at', '>=', filter.from) as Q;
  if (filter.to !== undefined) q = q.where('created_at', '<=', filter.to) as Q;
  if (filter.search !== undefined && filter.search !== '') {
    const pattern = likeContaining(filter.search);
    q = q.where((eb) =>
      eb.or((['message', 'category', 'node_id', 'severity'] as const).map((column) => sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`)),
    ) as Q;
  }
  return q;
}

export const managerEventsRepo = {
  /** Newest first. */
  list(db: Db, filter: ManagerEventFilter, scope: NodeScope, page: { limit: number; offset: number }): Promise<ManagerEventRow[]> {
    return filtered(db.selectFrom('manager_events').selectAll(), filter, scope).orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute();
  },

  async countUnacknowledged(db: Db, scope: NodeScope): Promise<number> {
    const row = await withinScope(
      db.selectFrom('manager_events').select((eb) => eb.fn.countAll().as('count')),
      'manager_events.node_id',
      scope,
    )
      .where('acknowledged', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  },

  find(db: Db, id: number): Promise<ManagerEventRow | undefined> {
    return db.selectFrom('manager_events').selectAll().where('id', '=', id).executeTakeFirst();
  },

  async acknowledge(db: Db, id: number, userId: string | null): Promise<void> {
    await db.updateTable('manager_events').set({ acknowledged: 1, acknowledged_by: userId }).where('id', '=', id).execute();
  },

  async pruneBefore(db: Db, cutoff: string): Promise<number> {
    const result = await db.deleteFrom('manager_events').where('created_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
