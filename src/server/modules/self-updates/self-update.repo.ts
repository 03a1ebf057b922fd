/** SQL of `self_update_requests`. */
import type { Kysely, Selectable, Updateable } from 'kysely';
import { encodeScope, type NodeScope } from '../../db/scope.ts';
import type { Database } from '../../db/schema.ts';
import { equals, type Filter, type ListInput, type Page, paginate, timestampFilters } from '../../db/listing.ts';
import type { SelfUpdateRequestsTable } from '../../db/tables/self-updates.ts';

type Db = Kysely<Database>;
export type SelfUpdateRequestRow = Selectable<SelfUpdateRequestsTable>;

const filters: Record<string, Filter> = {
  status: equals('self_update_requests.status'),
  ...timestampFilters('self_update_requests'),
};

/**
 * The requests a caller with this scope sees: those created under exactly their scope. No row
 * records which nodes a request reached (the summary only counts them), so unlike commands a
 * wider request cannot be shown for the part that touched the caller's nodes.
 */
function visibleRequests(db: Db, scope: NodeScope) {
  const requests = db.selectFrom('self_update_requests').selectAll('self_update_requests');
  return scope === null ? requests : requests.where('self_update_requests.node_scope', '=', encodeScope(scope));
}

export const selfUpdateRepo = {
  async insert(db: Db, row: SelfUpdateRequestRow): Promise<void> {
    await db.insertInto('self_update_requests').values(row).execute();
  },

  find(db: Db, id: string): Promise<SelfUpdateRequestRow | undefined> {
    return db.selectFrom('self_update_requests').selectAll().where('id', '=', id).executeTakeFirst();
  },

  findVisible(db: Db, id: string, scope: NodeScope): Promise<SelfUpdateRequestRow | undefined> {
    return visibleRequests(db, scope).where('self_update_requests.id', '=', id).executeTakeFirst();
  },

  newest(db: Db): Promise<SelfUpdateRequestRow | undefined> {
    return db.selectFrom('self_update_requests').selectAll().orderBy('inserted_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<SelfUpdateRequestRow>> {
    return paginate(visibleRequests(db, scope), input, {
      filters,
      sortable: { inserted_at: 'self_update_requests.inserted_at', updated_at: 'self_update_requests.updated_at' },
      tieBreaker: 'self_update_requests.id',
    });
  },

  async update(db: Db, id: string, change: Updateable<SelfUpdateRequestsTable>): Promise<void> {
    await db.updateTable('self_update_requests').set(change).where('id', '=', id).execute();
  },

  /** Deletes a completed request; false when it is not (or no longer) there in that state. */
  async deleteCompleted(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('self_update_requests').where('id', '=', id).where('status', '=', 'completed').executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
