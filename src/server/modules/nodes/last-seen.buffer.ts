/**
 * Coalesces heartbeat `last_seen_at` writes: each report only sets a map entry, and one batched
 * statement per interval writes the latest time of every node seen since the last flush. A fleet
 * of N nodes beating every few seconds then costs one write per second instead of N.
 */
export type LastSeenWriter = (seen: Array<[nodeId: string, at: string]>) => Promise<void>;

export class LastSeenBuffer {
  private pending = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly write: LastSeenWriter,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  record(nodeId: string, at: string): void {
    const previous = this.pending.get(nodeId);
    if (previous === undefined || previous < at) this.pending.set(nodeId, at);
  }

  /** A deleted node's pending time would only produce an update that matches nothing. */
  forget(nodeId: string): void {
    this.pending.delete(nodeId);
  }

  get size(): number {
    return this.pending.size;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes whatever is still pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Writes everything recorded so far; flushes never overlap. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending = new Map();
    this.inFlight = this.write(batch)
      .catch((error) => {
        // Keep the times for the next flush unless a newer report replaced them meanwhile.
        for (const [nodeId, at] of batch) this.record(nodeId, at);
        this.onError(error);
      })
      .finally(() => {
        this.inFlight = null;
      });
    await this.inFlight;
  }
}
