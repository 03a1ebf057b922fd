/**
 * Event broker clients (edge-admin spec §11.5): where EVENT_BROKER_URL points, every event is
 * published as well, with its type as the NATS subject or Redis channel, or as the MQTT topic with
 * dots turned into slashes (QoS 1). Payload = the envelope bytes, exactly as webhooks get them.
 *
 * Each client connects in the background and reconnects on its own; `publish` fails fast while
 * disconnected and otherwise resolves once the broker has taken every message of the batch, so the
 * caller knows whether to retry the batch.
 */
import type { Logger } from 'pino';
import { MqttBroker } from './mqtt.ts';
import { NatsBroker } from './nats.ts';
import { RedisBroker } from './redis.ts';

export interface BrokerMessage {
  type: string;
  raw: string;
}

export interface BrokerClient {
  readonly kind: 'nats' | 'redis' | 'mqtt';
  connect(): void;
  publish(batch: BrokerMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** How long a batch may take to be acknowledged before it counts as failed (and is retried). */
export const PUBLISH_TIMEOUT_MS = 5000;

export function createBrokerClient(url: string, log: Logger): BrokerClient {
  const scheme = new URL(url).protocol.replace(/:$/, '');
  if (scheme === 'nats') return new NatsBroker(url, log);
  if (scheme === 'redis' || scheme === 'rediss') return new RedisBroker(url, log);
  if (scheme === 'mqtt' || scheme === 'mqtts') return new MqttBroker(url, log);
  throw new Error(`unsupported EVENT_BROKER_URL scheme: ${scheme}`);
}

export const mqttTopic = (type: string): string => type.replaceAll('.', '/');
