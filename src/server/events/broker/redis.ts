import { createClient } from 'redis';
import type { Logger } from 'pino';
import { type BrokerClient, type BrokerMessage, PUBLISH_TIMEOUT_MS } from './broker.ts';
import { withTimeout } from '../../lib/timeout.ts';

type Client = ReturnType<typeof createClient>;

/** Redis pub/sub: PUBLISH on the channel named after the event type. */
export class RedisBroker implements BrokerClient {
  readonly kind = 'redis' as const;
  private readonly client: Client;
  private lastError = 0;

  constructor(url: string, log: Logger) {
    this.client = createClient({
      url,
      // Fail while disconnected instead of queueing: the job retries, and nothing piles up in memory.
      disableOfflineQueue: true,
      socket: { connectTimeout: 5000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000) },
    });
    this.client.on('error', (error: unknown) => {
      // Every reconnect attempt errors; one line per minute is enough.
      if (Date.now() - this.lastError < 60_000) return;
      this.lastError = Date.now();
      log.warn({ err: error }, 'event broker (Redis) error');
    });
  }

  connect(): void {
    this.client.connect().catch(() => {});
  }

  async publish(batch: BrokerMessage[]): Promise<void> {
    if (!this.client.isReady) throw new Error('not connected to the Redis event broker');
    await withTimeout(Promise.all(batch.map((m) => this.client.publish(m.type, m.raw))), PUBLISH_TIMEOUT_MS, 'Redis publish');
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
