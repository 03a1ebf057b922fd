/**
 * What a stranger's flood may make the outbox write. Recording every failed guess or refused call
 * as its own row and event let one client fill the disk and every webhook queue. Instead, per key
 * (an enrollment key and outcome, a client address…), the first `limit` occurrences of a window
 * are recorded one by one and the rest are folded into one summary, recorded when the window
 * closes. A key that stays busy keeps being summarised, one summary per window; a window without
 * occurrences forgets it, so its next one is again recorded at once.
 *
 * Counts are per instance and a crash loses at most one window's summaries. Keys come from the
 * caller and may be plentiful (addresses): past `maxKeys`, new keys share `sharedKey`, so no flood
 * of keys grows the map beyond that.
 */

interface Entry<S> {
  /** Occurrences recorded one by one since the key was last forgotten. */
  recorded: number;
  /** What was not recorded one by one this window. */
  summary: S | null;
}

export interface WindowedTallyOptions<S> {
  windowMs: number;
  /** Occurrences per key recorded one by one before the rest are summarised. */
  limit: number;
  maxKeys: number;
  sharedKey: string;
  /** Records the summaries of a closed window, one per key that had any. */
  record: (due: Array<[key: string, summary: S]>) => Promise<void>;
  onError: (error: unknown) => void;
}

export class WindowedTally<S> {
  private readonly entries = new Map<string, Entry<S>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(private readonly options: WindowedTallyOptions<S>) {}

  /**
   * Notes one occurrence under `key`: true when it is to be recorded now; otherwise it is folded
   * into the key's summary by `fold` (given the summary so far, null for the window's first).
   */
  note(key: string, fold: (summary: S | null) => S): boolean {
    const { limit, maxKeys, sharedKey } = this.options;
    let entry = this.entries.get(key);
    if (!entry && this.entries.size >= maxKeys) entry = this.entries.get((key = sharedKey));
    if (!entry) this.entries.set(key, (entry = { recorded: 0, summary: null }));
    if (entry.recorded < limit) {
      entry.recorded += 1;
      return true;
    }
    entry.summary = fold(entry.summary);
    return false;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(this.options.onError), this.options.windowMs);
    this.timer.unref();
  }

  /** Records what is pending, so a graceful shutdown loses no count. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch(this.options.onError);
  }

  /** Closes the window: records every summary it holds. */
  flush(): Promise<void> {
    this.flushing ??= this.closeWindow().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async closeWindow(): Promise<void> {
    const due: Array<[string, S]> = [];
    for (const [key, entry] of this.entries) {
      if (entry.summary === null) this.entries.delete(key);
      else {
        due.push([key, entry.summary]);
        entry.summary = null;
      }
    }
    if (due.length > 0) await this.options.record(due);
  }
}
