/**
 * Outbox retention: events older than the retention window are deleted once every durable
 * subscriber (webhook fan-out, broker relay) has consumed them. Their deliveries do not need the
 * row: jobs carry the event's bytes. One instance in the fleet prunes per tick (scheduled by the
 * composition root); deletes are idempotent anyway. Sequence numbers are never reused (AUTOINCREMENT / identity), so cursors stay valid
 * when the newest rows are pruned.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { microsecondTimestamp } from '../lib/time.ts';

const DAY_MS = 86_400_000;
/** Rows per DELETE, so a first prune of a large backlog never holds a long write lock. */
const BATCH = 5_000;

export class EventRetention {
  constructor(
    private readonly db: Kysely<Database>,
    /** Read on every pass (an operator setting); 0 keeps every event. */
    private readonly retentionDays: () => number,
  ) {}

  /** Deletes consumed events older than the window as of `now`; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    const days = this.retentionDays();
    if (days === 0) return 0;
    const cutoff = microsecondTimestamp(new Date(now - days * DAY_MS));
    const slowest = await this.db
      .selectFrom('event_consumers')
      .select((eb) => eb.fn.min('last_seq').as('seq'))
      .executeTakeFirst();
    // No durable subscriber has ever started: nothing is owed to anyone yet, so keep everything.
    if (slowest?.seq === null || slowest?.seq === undefined) return 0;
    const consumed = Number(slowest.seq);
    let total = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('events')
        .where('seq', 'in', (eb) => eb.selectFrom('events').select('seq').where('seq', '<=', consumed).where('time', '<', cutoff).orderBy('seq').limit(BATCH))
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      total += deleted;
      if (deleted < BATCH) return total;
    }
  }
}
