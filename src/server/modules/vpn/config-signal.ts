/**
 * "Node X's config revision changed": wakes `GET /node/config/latest?wait=…` long-polls so a change
 * reaches the node in about a second instead of at its next heartbeat, whichever instance made the
 * change (relayConfigSignal carries it over the signal bus). Waiters re-read the revision after
 * waking and on a slow timer, so a signal that is early (sent before its transaction commits) or
 * lost delays a change but never hides it.
 */
import type { SignalBus } from '../../channels/signal-bus.ts';

export interface ConfigSignal {
  /** The revisions of these nodes moved. */
  notify(nodeIds: readonly string[]): void;
  /** Resolves on the next notify for the node, after `timeoutMs`, or when `abort` fires. */
  wait(nodeId: string, timeoutMs: number, abort?: AbortSignal): Promise<void>;
}

class InProcessConfigSignal implements ConfigSignal {
  private readonly waiters = new Map<string, Set<() => void>>();

  notify(nodeIds: readonly string[]): void {
    for (const id of nodeIds) {
      const set = this.waiters.get(id);
      if (!set) continue;
      this.waiters.delete(id);
      for (const wake of set) wake();
    }
  }

  /** Signals may have been lost: every waiter re-reads. */
  wakeAll(): void {
    this.notify([...this.waiters.keys()]);
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

const CONFIG_TOPIC = 'config.changed';
const waiters = new InProcessConfigSignal();
const relays = new Set<(nodeIds: readonly string[]) => void>();

/**
 * The process's signal. bumpNodes runs inside callers' transactions with no handle on the services,
 * so it reaches the signal here; relayConfigSignal connects it to the other instances at start-up.
 */
export const configSignal: ConfigSignal = {
  notify(ids) {
    waiters.notify(ids);
    for (const relay of relays) relay(ids);
  },
  wait: (id, ms, abort) => waiters.wait(id, ms, abort),
};

/** Publishes this process's notifications on `bus` and wakes waiters for other instances' ones; returns the undo. */
export function relayConfigSignal(bus: SignalBus, onError: (error: unknown) => void): () => void {
  const relay = (ids: readonly string[]) => {
    if (ids.length > 0) bus.publish(CONFIG_TOPIC, ids).catch(onError);
  };
  relays.add(relay);
  bus.subscribe(CONFIG_TOPIC, (data, from) => {
    if (from !== bus.instanceId && Array.isArray(data)) waiters.notify(data.filter((id): id is string => typeof id === 'string'));
  });
  bus.onResync(() => waiters.wakeAll());
  return () => relays.delete(relay);
}
