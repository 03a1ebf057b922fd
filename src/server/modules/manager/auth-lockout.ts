/**
 * Per-identifier lockout of the node WebSocket's auth (manager spec §1.2): 5 failures within a fixed
 * 60 s window (from the first failure) refuse the identifier for the rest of the window. Checked
 * before any lookup or decryption, so a locked identifier costs nothing; a success clears it.
 * Per instance, in memory, like the manager's own.
 */
export const LOCKOUT_FAILURES = 5;
export const LOCKOUT_WINDOW_MS = 60_000;
/** Above this many tracked identifiers, expired windows are swept before adding another. */
const SWEEP_ABOVE = 10_000;

interface Window {
  startedAt: number;
  failures: number;
}

export class AuthLockout {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly now: () => number = Date.now) {}

  isLocked(id: string): boolean {
    const window = this.current(id);
    return window !== undefined && window.failures >= LOCKOUT_FAILURES;
  }

  fail(id: string): void {
    const window = this.current(id);
    if (window) {
      window.failures += 1;
      return;
    }
    if (this.windows.size >= SWEEP_ABOVE) this.sweep();
    this.windows.set(id, { startedAt: this.now(), failures: 1 });
  }

  clear(id: string): void {
    this.windows.delete(id);
  }

  private current(id: string): Window | undefined {
    const window = this.windows.get(id);
    if (window && this.now() - window.startedAt >= LOCKOUT_WINDOW_MS) {
      this.windows.delete(id);
      return undefined;
    }
    return window;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, window] of this.windows) if (now - window.startedAt >= LOCKOUT_WINDOW_MS) this.windows.delete(id);
  }
}
