/**
 * Failed enrollment-key verifications, aggregated (events/windowed-tally.ts): per key and outcome
 * (all unknown keys share one), the first failure of a window is recorded at once and later ones
 * as one event whose `attempts` is their count. The tally holds at most one entry per stored key
 * and outcome, so guessing cannot grow it.
 */
import type { EventDataMap } from '../../events/catalog.ts';
import type { Outbox } from '../../events/outbox.ts';
import { WindowedTally } from '../../events/windowed-tally.ts';

export type VerifiedEventData = EventDataMap['edge.enrollment_key.verified'];

export class FailedVerifications {
  private readonly tally: WindowedTally<VerifiedEventData>;

  constructor(outbox: Outbox, windowMs: number, onError: (error: unknown) => void) {
    this.tally = new WindowedTally({
      windowMs,
      limit: 1,
      // Keys are stored enrollment keys, already bounded; this only guards the map.
      maxKeys: 100_000,
      sharedKey: '*',
      onError,
      record: (due) =>
        outbox.run(async (_trx, emit) => {
          for (const [, data] of due) emit('edge.enrollment_key.verified', data);
        }),
    });
  }

  /** Notes a failure; true when it opens a window and must be recorded now (with attempts 1). */
  note(data: VerifiedEventData): boolean {
    return this.tally.note(`${data.result} ${data.enrollment_key_id ?? ''}`, (summary) => ({ ...data, attempts: (summary?.attempts ?? 0) + 1 }));
  }

  start(): void {
    this.tally.start();
  }

  stop(): Promise<void> {
    return this.tally.stop();
  }
}
