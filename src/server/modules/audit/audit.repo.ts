import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { dateFrom, dateUntil, equals, type Filter, type ListInput, type Page, paginate, textFilter } from '../../db/listing.ts';
import type { AuditLogRow } from '../../db/tables/audit-settings.ts';

type Db = Kysely<Database>;

/** Rows per DELETE, so pruning a large backlog never holds a long write lock. */
const PRUNE_BATCH = 5_000;

const filters: Record<string, Filter> = {
  actor_id: equals('audit_log.actor_id'),
  actor_type: equals('audit_log.actor_type'),
  action: textFilter('audit_log.action'),
  target_type: equals('audit_log.target_type'),
  target_id: equals('audit_log.target_id'),
  from: dateFrom('audit_log.at'),
  to: dateUntil('audit_log.at'),
};

export const auditRepo = {
  async insert(db: Db, row: AuditLogRow): Promise<void> {
    await db.insertInto('audit_log').values(row).execute();
  },

  /** Newest first; ids are UUIDv7, so rows of one millisecond keep their order too. */
  list(db: Db, input: ListInput): Promise<Page<AuditLogRow>> {
    return paginate(db.selectFrom('audit_log').selectAll(), input, {
      filters,
      sortable: {},
      tieBreaker: 'audit_log.id',
      defaultOrder: { column: 'audit_log.at', direction: 'desc' },
    });
  },

  /** The newest `limit` rows, newest first (for an export). */
  recent(db: Db, limit: number): Promise<AuditLogRow[]> {
    return db.selectFrom('audit_log').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  },

  /** Deletes rows older than `cutoff`; returns how many. */
  async deleteOlderThan(db: Db, cutoff: string): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await db
        .deleteFrom('audit_log')
        .where('id', 'in', (eb) => eb.selectFrom('audit_log').select('id').where('at', '<', cutoff).orderBy('at').limit(PRUNE_BATCH))
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      total += deleted;
      if (deleted < PRUNE_BATCH) return total;
    }
  },
};
