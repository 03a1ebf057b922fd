/**
 * Metrics: what nodes push (NodeMetricsService) and the control plane's own figures summarised for
 * the Admin API (AdminMetricsCollector). The server's Prometheus registry comes from the root, which
 * also hands it to the hub and the webhooks; the collector's event-loop monitor runs until stop().
 */
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { AdminMetricsCollector, type AdminMetricsSources } from './admin-metrics.ts';
import { NodeMetricsService } from './node-metrics.service.ts';

export interface MetricsModuleDeps {
  db: Kysely<Database>;
  registry: Registry;
  instances: AdminMetricsSources['instances'];
  brokerEnabled: boolean;
  /** Job queues to list even while they hold no job. */
  queues: string[];
}

export function metricsModule(deps: MetricsModuleDeps): ModuleManifest<{ nodeMetrics: NodeMetricsService; adminMetrics: AdminMetricsCollector }> {
  const { db, registry } = deps;
  const nodeMetrics = new NodeMetricsService(db, { registry });
  const adminMetrics = new AdminMetricsCollector({ db, registry, brokerEnabled: deps.brokerEnabled, queues: deps.queues, instances: deps.instances });
  return {
    services: { nodeMetrics, adminMetrics },
    stop: async () => adminMetrics.close(),
  };
}
