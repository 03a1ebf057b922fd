/**
 * Failed enrollment-key verifications, aggregated. Recording every failed guess as its own event
 * let one client write ~25 GB of events a day and flood every webhook. Instead, per key and
 * outcome (all unknown keys share one), the first failure is recorded at once and later ones are
 * counted in memory and recorded as one event with `attempts` = the count when the window closes.
 * A window without failures forgets the key, so its next failure is again recorded at once.
 * The map holds at most one entry per stored key and outcome, so guessing cannot grow it.
 * Counts are per instance and a crash loses at most one window's tally.
 */
import type { EventDataMap } from '../../events/catalog.ts';
import type { Outbox } from '../../events/outbox.ts';

export type VerifiedEventData = EventDataMap['edge.enrollment_key.verified'];

interface Tally {
  /** The latest failure's data (uses left, time). */
  latest: VerifiedEventData;
  /** Failures since the last recorded event. */
  unrecorded: number;
}

export class FailedVerifications {
  private readonly tallies = new Map<string, Tally>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly outbox: Outbox,
    private readonly windowMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Notes a failure; true when it opens a window and must be recorded now (with attempts 1). */
  note(data: VerifiedEventData): boolean {
    const key = `${data.result} ${data.enrollment_key_id ?? ''}`;
    const tally = this.tallies.get(key);
    if (!tally) {
      this.tallies.set(key, { latest: data, unrecorded: 0 });
      return true;
    }
    tally.latest = data;
    tally.unrecorded += 1;
    return false;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(this.onError), this.windowMs);
    this.timer.unref();
  }

  /** Records what is pending, so a graceful shutdown loses no count. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch(this.onError);
  }

  /** Closes the window: one event per key and outcome that failed again since it was recorded. */
  flush(): Promise<void> {
    this.flushing ??= this.closeWindow().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async closeWindow(): Promise<void> {
    const due: VerifiedEventData[] = [];
    for (const [key, tally] of this.tallies) {
      if (tally.unrecorded === 0) this.tallies.delete(key);
      else {
        due.push({ ...tally.latest, attempts: tally.unrecorded });
        tally.unrecorded = 0;
      }
    }
    if (due.length === 0) return;
    await this.outbox.run(async (_trx, emit) => {
      for (const data of due) emit('edge.enrollment_key.verified', data);
    });
  }
}
