import { connect, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { type BrokerClient, type BrokerMessage, PUBLISH_TIMEOUT_MS } from './broker.ts';
import { withTimeout } from '../../lib/timeout.ts';

const RETRY_CONNECT_MS = 1000;

/** Core NATS: subject = event type. `flush()` round-trips to the server, so a resolved publish was received. */
export class NatsBroker implements BrokerClient {
  readonly kind = 'nats' as const;
  private nc: NatsConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  connect(): void {
    // The first connection is retried here (so close() can stop it); once up, nats.js reconnects itself.
    connect({ servers: this.url, name: 'nodeplane', maxReconnectAttempts: -1, reconnectTimeWait: RETRY_CONNECT_MS })
      .then((nc) => {
        if (this.closed) return void nc.close();
        this.nc = nc;
      })
      .catch((error) => {
        if (this.closed) return;
        this.log.warn({ err: error }, 'event broker (NATS) unreachable; retrying');
        this.timer = setTimeout(() => this.connect(), RETRY_CONNECT_MS);
      });
  }

  async publish(batch: BrokerMessage[]): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) throw new Error('not connected to the NATS event broker');
    for (const message of batch) nc.publish(message.type, Buffer.from(message.raw, 'utf8'));
    await withTimeout(nc.flush(), PUBLISH_TIMEOUT_MS, 'NATS flush');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.nc?.close();
  }
}
