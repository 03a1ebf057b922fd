/**
 * Bounds agent-reported status changes per node. A node flapping over its live channel (thousands of
 * health frames a second) would otherwise write thousands of `edge.node.status_changed` events and
 * webhook deliveries. The first change is applied at once; for `windowMs` after an applied change,
 * further reports only replace the node's pending status; when the window ends the latest pending
 * status is applied (a write and its event in one transaction, like any change), which opens a new
 * window if it changed anything. So a node emits at most one change per window, the last event
 * carries where it settled, and a flap that settles where it started emits nothing more.
 *
 * Pending statuses live in memory: a crash loses at most one window, and the agent's next report
 * (every health interval) sets it again.
 */
export type ApplyStatus = (nodeId: string, status: string, seenAt: string) => Promise<boolean>;

interface Window {
  timer: NodeJS.Timeout | null;
  pending: { status: string; seenAt: string } | null;
}

export class StatusDebounce {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly windowMs: number,
    private readonly apply: ApplyStatus,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** True while reports of this node are being held (they must come here, even unchanged ones). */
  holds(nodeId: string): boolean {
    return this.windows.has(nodeId);
  }

  async report(nodeId: string, status: string, seenAt: string): Promise<void> {
    const open = this.windows.get(nodeId);
    if (open) {
      open.pending = { status, seenAt };
      return;
    }
    // Opened before the write, so reports arriving while it runs are held, not applied in parallel.
    const window: Window = { timer: null, pending: null };
    this.windows.set(nodeId, window);
    let changed: boolean;
    try {
      changed = await this.apply(nodeId, status, seenAt);
    } catch (error) {
      this.close(nodeId, window);
      throw error;
    }
    if (this.windows.get(nodeId) !== window) return;
    if (!changed || this.windowMs === 0) return this.close(nodeId, window);
    window.timer = setTimeout(() => this.close(nodeId, window), this.windowMs);
    window.timer.unref();
  }

  /** Drops what is held for a node: a direct verdict (unreachable, deletion) supersedes it. */
  cancel(nodeId: string): void {
    const window = this.windows.get(nodeId);
    if (window?.timer) clearTimeout(window.timer);
    this.windows.delete(nodeId);
  }

  stop(): void {
    for (const nodeId of [...this.windows.keys()]) this.cancel(nodeId);
  }

  private close(nodeId: string, window: Window): void {
    if (this.windows.get(nodeId) !== window) return;
    if (window.timer) clearTimeout(window.timer);
    this.windows.delete(nodeId);
    const { pending } = window;
    if (pending) this.report(nodeId, pending.status, pending.seenAt).catch(this.onError);
  }
}
