/**
 * "Node X's config revision changed": wakes `GET /node/config/latest?wait=…` long-polls so a change
 * reaches the node in about a second instead of at its next heartbeat. In-process only for now; a
 * cross-instance implementation (Postgres LISTEN/NOTIFY) plugs in behind the same interface. Waiters
 * re-read the revision after waking and on a slow timer, so a signal that is early (sent before its
 * transaction commits) or lost (another instance) delays a change but never hides it.
 */
export interface ConfigSignal {
  /** The revisions of these nodes moved. */
  notify(nodeIds: readonly string[]): void;
  /** Resolves on the next notify for the node, after `timeoutMs`, or when `abort` fires. */
  wait(nodeId: string, timeoutMs: number, abort?: AbortSignal): Promise<void>;
}

export class InProcessConfigSignal implements ConfigSignal {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(nodeIds: readonly string[]): void {
    for (const id of nodeIds) {
      const set = this.waiters.get(id);
      if (!set) continue;
      this.waiters.delete(id);
      for (const wake of set) wake();
    }
  }

  wait(nodeId: string, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    if (abort?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort?.removeEventListener('abort', done);
        const set = this.waiters.get(nodeId);
        set?.delete(done);
        if (set?.size === 0) this.waiters.delete(nodeId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      abort?.addEventListener('abort', done, { once: true });
      let set = this.waiters.get(nodeId);
      if (!set) this.waiters.set(nodeId, (set = new Set()));
      set.add(done);
    });
  }
}

/**
 * The process's signal. bumpNodes runs inside callers' transactions with no handle on the services,
 * so it reaches the signal here; swap the implementation with `useConfigSignal` at start-up.
 */
let current: ConfigSignal = new InProcessConfigSignal();
export const configSignal: ConfigSignal = {
  notify: (ids) => current.notify(ids),
  wait: (id, ms, abort) => current.wait(id, ms, abort),
};
export function useConfigSignal(signal: ConfigSignal): void {
  current = signal;
}
