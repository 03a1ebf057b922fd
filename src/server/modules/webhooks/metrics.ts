/**
 * Prometheus counters of webhook delivery and the event broker, on the server's registry. The admin
 * metrics view (admin-metrics.ts) reads them back by name, so the names are part of its contract.
 */
import { Counter, type Registry } from 'prom-client';
import { metricOnce } from '../metrics/registry.ts';

export type DeliveryOutcome = 'ok' | 'recoverable' | 'terminal';

export const METRIC = {
  fanOuts: 'nodeplane_webhook_fan_outs_total',
  deliveries: 'nodeplane_webhook_deliveries_total',
  expired: 'nodeplane_webhook_deliveries_expired_total',
  brokerEnqueues: 'nodeplane_event_broker_enqueues_total',
  brokerPublishes: 'nodeplane_event_broker_publishes_total',
  jobsCompleted: 'nodeplane_jobs_completed_total',
} as const;

export interface WebhookMetrics {
  fanOuts: Counter;
  deliveries: Counter<'outcome'>;
  expired: Counter;
  brokerEnqueues: Counter;
  brokerPublishes: Counter<'result'>;
  jobsCompleted: Counter<'queue'>;
}

export function webhookMetrics(registry: Registry): WebhookMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    metricOnce(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
  const metrics: WebhookMetrics = {
    fanOuts: counter(METRIC.fanOuts, 'Events offered to webhook fan-out (one per event, however many webhooks match)'),
    deliveries: counter(METRIC.deliveries, 'Webhook delivery attempts by outcome: ok (2xx), recoverable (retried), terminal', ['outcome']),
    expired: counter(METRIC.expired, 'Webhook deliveries dropped because their job outlived EVENT_DELIVERY_MAX_AGE_SECONDS'),
    brokerEnqueues: counter(METRIC.brokerEnqueues, 'Events queued for publishing to the event broker'),
    brokerPublishes: counter(METRIC.brokerPublishes, 'Event broker publish attempts by result (an error is retried)', ['result']),
    jobsCompleted: counter(METRIC.jobsCompleted, 'Durable jobs finished successfully, by queue', ['queue']),
  };
  // Every series exists from the start, so a scrape shows 0 rather than nothing.
  for (const outcome of ['ok', 'recoverable', 'terminal'] as const) metrics.deliveries.inc({ outcome }, 0);
  for (const result of ['ok', 'error'] as const) metrics.brokerPublishes.inc({ result }, 0);
  return metrics;
}
