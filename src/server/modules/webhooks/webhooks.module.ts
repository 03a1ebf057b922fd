/**
 * Webhooks and the optional event broker: both are durable relay subscribers that turn committed
 * events into jobs (one delivery per webhook × event; one publish per batch), so a crash loses none.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../../db/schema.ts';
import { BROKER_QUEUE, brokerRetryDelayMs, EventBrokerRelay } from '../../events/broker/broker-relay.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { WebhookSender } from './delivery.ts';
import { webhookMetrics } from './metrics.ts';
import { SsrfGuard } from './ssrf.ts';
import { DELIVERY_QUEUE } from './webhook.repo.ts';
import { retryDelayMs, WebhookService } from './webhook.service.ts';

export interface WebhooksModuleDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
  log: Logger;
  registry: Registry;
  config: {
    webhookAllowPrivateIps: boolean;
    webhookConcurrency: number;
    webhookRetryBaseMs: number;
    webhookTimeoutMs: number;
    webhookMaxAttempts: number;
    eventDeliveryMaxAgeSeconds: number;
    eventBrokerUrl: string | null;
  };
}

export function webhooksModule(deps: WebhooksModuleDeps): ModuleManifest<{ webhooks: WebhookService; broker: EventBrokerRelay | null }> {
  const { config } = deps;
  const metrics = webhookMetrics(deps.registry);
  const sender = new WebhookSender(config.webhookConcurrency);
  const webhooks = new WebhookService({ db: deps.db, secrets: deps.secrets, ssrf: new SsrfGuard(config.webhookAllowPrivateIps), metrics, sender, config });
  const broker = config.eventBrokerUrl ? new EventBrokerRelay(config.eventBrokerUrl, deps.log, metrics) : null;
  return {
    services: { webhooks, broker },
    subscribers: {
      webhooks: (events, trx) => webhooks.fanOut(events, trx),
      ...(broker ? { broker: (events, trx) => broker.enqueue(events, trx) } : {}),
    },
    jobs: {
      [DELIVERY_QUEUE]: {
        handler: (job) => webhooks.deliver(job),
        concurrency: config.webhookConcurrency,
        backoffMs: (attempt) => retryDelayMs(attempt, config.webhookRetryBaseMs),
        // Longer than the slowest attempt (DNS + timeout), so a live attempt is never claimed twice.
        leaseMs: config.webhookTimeoutMs + 15_000,
      },
      ...(broker
        ? {
            [BROKER_QUEUE]: {
              handler: (job) => broker.publish(job),
              // One at a time keeps events in order while the broker is healthy.
              concurrency: 1,
              backoffMs: brokerRetryDelayMs,
            },
          }
        : {}),
    },
    start: async () => broker?.start(),
    stop: async () => {
      sender.destroy();
      await broker?.stop();
    },
  };
}
