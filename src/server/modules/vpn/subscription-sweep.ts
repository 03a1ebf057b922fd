/**
 * Periodic subscription work: expiry (status `expired` once `expires_at` passed) and daily, weekly
 * or monthly traffic resets, each bumping the nodes whose configs change, in batches.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { bumpForSubscriptions } from './revisions.ts';
import { emitStatusEvent } from './subscription-events.ts';
import { subscriptionRepo } from './subscription.repo.ts';

const SWEEP_BATCH = 500;

/** Start of the current reset period (UTC): today, this ISO week (Monday), this month. */
function periodStart(strategy: string, now: Date): string | null {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  if (strategy === 'day') return new Date(day).toISOString();
  if (strategy === 'week') return new Date(day - ((now.getUTCDay() + 6) % 7) * 86_400_000).toISOString();
  if (strategy === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
  return null;
}

/**
 * Expires subscriptions past `expires_at` and applies due periodic traffic resets, bumping the
 * nodes that serve them. Compare-and-set updates make concurrent sweeps (several instances)
 * change, bump and announce each subscription once.
 */
export async function sweepSubscriptions(db: Kysely<Database>, outbox: Outbox, now = new Date()): Promise<{ expired: number; reset: number }> {
  const at = now.toISOString();
  let expired = 0;
  for (;;) {
    const due = await subscriptionRepo.dueForExpiry(db, at, SWEEP_BATCH);
    if (due.length === 0) break;
    const changed = await outbox.run(async (trx, emit) => {
      const rows = await subscriptionRepo.expire(
        trx,
        due.map((r) => Number(r.id)),
        at,
      );
      await bumpForSubscriptions(
        trx,
        rows.map((r) => Number(r.id)),
      );
      for (const row of rows) emitStatusEvent(emit, 'active', row, at);
      return rows.length;
    });
    expired += changed;
    if (due.length < SWEEP_BATCH) break;
  }

  let reset = 0;
  for (const strategy of ['day', 'week', 'month']) {
    const boundary = periodStart(strategy, now)!;
    for (;;) {
      const due = await subscriptionRepo.dueForReset(db, strategy, boundary, SWEEP_BATCH);
      if (due.length === 0) break;
      reset += await db.transaction().execute(async (trx) => {
        const resetIds = await subscriptionRepo.resetPeriod(
          trx,
          due.map((r) => Number(r.id)),
          boundary,
          at,
        );
        // Only a limited subscription changes node configs when its counters go back to zero.
        const wasLimited = new Set(due.filter((r) => r.status === 'limited').map((r) => Number(r.id)));
        await bumpForSubscriptions(
          trx,
          resetIds.filter((i) => wasLimited.has(i)),
        );
        return resetIds.length;
      });
      if (due.length < SWEEP_BATCH) break;
    }
  }
  return { expired, reset };
}
