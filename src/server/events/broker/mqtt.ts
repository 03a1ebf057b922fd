import { randomBytes } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { type BrokerClient, type BrokerMessage, mqttTopic, PUBLISH_TIMEOUT_MS } from './broker.ts';
import { withTimeout } from '../../lib/timeout.ts';

/** MQTT: topic = type with dots as slashes, QoS 1 (resolved on PUBACK). */
export class MqttBroker implements BrokerClient {
  readonly kind = 'mqtt' as const;
  private client: MqttClient | null = null;
  private lastError = 0;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  connect(): void {
    this.client = connect(this.url, {
      clientId: `nodeplane-${randomBytes(6).toString('hex')}`,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      // Messages given while offline would be sent after reconnecting as well as retried by the job.
      queueQoSZero: false,
    });
    this.client.on('error', (error) => {
      if (Date.now() - this.lastError < 60_000) return;
      this.lastError = Date.now();
      this.log.warn({ err: error }, 'event broker (MQTT) error');
    });
  }

  async publish(batch: BrokerMessage[]): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error('not connected to the MQTT event broker');
    await withTimeout(Promise.all(batch.map((m) => client.publishAsync(mqttTopic(m.type), m.raw, { qos: 1 }))), PUBLISH_TIMEOUT_MS, 'MQTT publish');
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}
