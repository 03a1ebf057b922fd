/**
 * The signal bus between the instances sharing one database: wake-ups ("node X has work"),
 * revocations and routed frames. Signals are hints, never the truth: a lost one delays work (its
 * consumer re-reads the database on a timer or on `onResync`) but never loses it.
 *
 * Every published signal reaches every instance, the publisher included (Postgres NOTIFY does the
 * same); `to` narrows it to one instance. Handlers that already acted locally skip `from === self`.
 */
export interface Signal {
  topic: string;
  /** Instance id of the publisher. */
  from: string;
  /** One instance id, or null for all. */
  to: string | null;
  data: unknown;
}

export type SignalHandler = (data: unknown, from: string) => void;

export interface SignalBus {
  readonly instanceId: string;
  publish(topic: string, data: unknown, to?: string): Promise<void>;
  subscribe(topic: string, handler: SignalHandler): void;
  /** Called when signals may have been lost (e.g. the LISTEN connection was re-established). */
  onResync(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Routes a received signal to its topic's handlers; shared by the implementations. */
export class SignalRouter {
  private readonly handlers = new Map<string, SignalHandler[]>();
  private readonly resyncListeners: Array<() => void> = [];

  constructor(
    readonly instanceId: string,
    private readonly onError: (error: unknown, topic: string) => void,
  ) {}

  subscribe(topic: string, handler: SignalHandler): void {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
  }

  onResync(listener: () => void): void {
    this.resyncListeners.push(listener);
  }

  deliver(signal: Signal): void {
    if (signal.to !== null && signal.to !== this.instanceId) return;
    for (const handler of this.handlers.get(signal.topic) ?? []) {
      try {
        handler(signal.data, signal.from);
      } catch (error) {
        this.onError(error, signal.topic);
      }
    }
  }

  resync(): void {
    for (const listener of this.resyncListeners) {
      try {
        listener();
      } catch (error) {
        this.onError(error, 'resync');
      }
    }
  }
}

/** One instance (SQLite): signals loop back to this process, asynchronously like NOTIFY. */
export class InProcessSignalBus implements SignalBus {
  private readonly router: SignalRouter;

  constructor(
    readonly instanceId: string,
    onError: (error: unknown, topic: string) => void,
  ) {
    this.router = new SignalRouter(instanceId, onError);
  }

  async publish(topic: string, data: unknown, to?: string): Promise<void> {
    const signal: Signal = { topic, from: this.instanceId, to: to ?? null, data };
    queueMicrotask(() => this.router.deliver(signal));
  }

  subscribe(topic: string, handler: SignalHandler): void {
    this.router.subscribe(topic, handler);
  }

  onResync(listener: () => void): void {
    this.router.onResync(listener);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
