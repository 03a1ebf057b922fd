/**
 * The figures behind `GET /api/v1/admins/me/metrics` (edge-admin spec §12.3): this instance's
 * Prometheus registry summarised into the contract's blocks, plus a few things only the database
 * knows (nodes by status, job queue states) and this Node.js process's own vital signs.
 *
 * Counters are looked up by name, so a module that registers one later shows up here without a
 * change to this file. A block whose metric is absent renders 0 when the feature exists in
 * Nodeplane and null when it has no counterpart here (BEAM, Netmaker, Quantum, forward proxy).
 *
 * Names read (sum over all label values unless a label is given):
 *   webhook        nodeplane_webhook_fan_outs_total, nodeplane_webhook_deliveries_total{outcome}
 *   event_broker   nodeplane_event_broker_enqueues_total, nodeplane_event_broker_publishes_total{result}
 *   commands       nodeplane_command_delivery_runs_total, nodeplane_command_delivery_last_delivered (gauge),
 *                  nodeplane_command_executions_delivered_total, nodeplane_command_executions_completed_total,
 *                  nodeplane_command_expiration_runs_total
 *   ssh            nodeplane_ssh_verifications_total{result="success"|"failure"}
 *   self_updates   nodeplane_self_update_requests_completed_total
 *   nodes          nodeplane_node_health_checks_total, else health reports answered over HTTP
 *                  (nodeplane_http_requests_total{route="/api/v1/agents/nodes/me/health_check"})
 *   metadata       nodeplane_admin_recomputations_total
 *   oban_queues    nodeplane_jobs_completed_total{queue}
 *   vpn, gateways, proxy, membership, discovery, quantum, reconciliation: nodeplane_<block>_<field>
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { AdminMetrics } from '../../../contract/admin/admin-metrics.ts';
import type { Database } from '../../db/schema.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import { METRIC } from '../webhooks/metrics.ts';
import { adminMetricsRepo } from './admin-metrics.repo.ts';

export interface AdminMetricsSources {
  db: Kysely<Database>;
  registry: Registry;
  brokerEnabled: boolean;
  /** Job queues to list even while they hold no job. */
  queues: string[];
  instances: { isDegraded(): boolean; ownedClusterIds(): string[]; orphanedClusterCount(): Promise<number> };
}

const MB = 1024 * 1024;
const round2 = (n: number) => Math.round(n * 100) / 100;
const mb = (bytes: number | null) => (bytes === null ? null : round2(bytes / MB));
const LOOP_RESOLUTION_MS = 10;
// The histogram records the whole interval between its timer's ticks; the lag is what exceeds it.
const lagMs = (ns: number) => (Number.isFinite(ns) ? round2(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)) : null);

export function humanUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : `${Math.floor(seconds)}s`;
}

type Labels = Record<string, string>;

export class AdminMetricsCollector {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor(private readonly sources: AdminMetricsSources) {
    this.loopDelay.enable();
  }

  close(): void {
    this.loopDelay.disable();
  }

  /** Sum of a metric's series (histograms: their counts), or null when nothing registered it. */
  private async read(name: string, labels: Labels = {}): Promise<number | null> {
    const metric = this.sources.registry.getSingleMetric(name);
    if (!metric) return null;
    const data = await metric.get();
    let sum = 0;
    for (const value of data.values as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>) {
      if (value.metricName !== undefined && value.metricName !== name && value.metricName !== `${name}_count`) continue;
      if (!Object.entries(labels).every(([k, v]) => String(value.labels[k]) === v)) continue;
      sum += value.value;
    }
    return Math.round(sum);
  }

  /** A counter of a feature Nodeplane has: absent means nothing happened yet. */
  private async count(name: string, labels?: Labels): Promise<number> {
    return (await this.read(name, labels)) ?? 0;
  }

  async collect(): Promise<AdminMetrics> {
    const [nodes, queues] = await Promise.all([this.nodes(), this.queues()]);
    // First: it recomputes the assignment, so ownership and degradation below are current.
    const orphaned = await this.sources.instances.orphanedClusterCount();
    const optional = (name: string) => this.read(name);
    const r = async <K extends string>(block: string, fields: readonly K[]) =>
      Object.fromEntries(await Promise.all(fields.map(async (f) => [f, await optional(`nodeplane_${block}_${f}`)]))) as Record<K, number | null>;

    const ok = await this.count(METRIC.deliveries, { outcome: 'ok' });
    const recoverable = await this.count(METRIC.deliveries, { outcome: 'recoverable' });
    const terminal = await this.count(METRIC.deliveries, { outcome: 'terminal' });
    const published = await this.count(METRIC.brokerPublishes, { result: 'ok' });
    const publishErrors = await this.count(METRIC.brokerPublishes, { result: 'error' });
    const sshFailed = await this.count('nodeplane_ssh_verifications_total', { result: 'failure' });
    const proxy = await r('proxy', [
      'auth_failures_total',
      'bytes_down_total',
      'bytes_up_total',
      'connections_auth_failed_total',
      'connections_failure_total',
      'connections_success_total',
      'connections_total',
      'tunnels_closed_deadline_total',
      'tunnels_closed_drain_timeout_total',
      'tunnels_closed_normal_total',
      'tunnels_closed_total',
    ] as const);

    return {
      application: this.application(),
      metadata: {
        assigned_clusters: this.sources.instances.ownedClusterIds().length,
        degraded: this.sources.instances.isDegraded(),
        orphaned_clusters: orphaned,
        recomputations_total: await optional('nodeplane_admin_recomputations_total'),
      },
      membership: await r('membership', ['complete_total', 'steps_completed_total'] as const),
      discovery: await r('discovery', ['dns_resolutions_total', 'peer_connections_total', 'scans_total'] as const),
      nodes: {
        health_checks_total:
          (await this.read('nodeplane_node_health_checks_total')) ??
          (await this.count('nodeplane_http_requests_total', { route: '/api/v1/agents/nodes/me/health_check' })),
        total: Object.values(nodes).reduce((a, b) => a + b, 0),
        by_status: nodes,
      },
      quantum: await r('quantum', ['jobs_exceptions_total', 'jobs_executed_total'] as const),
      vpn: await r('vpn', ['zombie_cleanup_deleted_count', 'zombie_cleanup_total'] as const),
      commands: {
        delivery_delivered_count: await this.count('nodeplane_command_delivery_last_delivered'),
        delivery_total: await this.count('nodeplane_command_delivery_runs_total'),
        execution_completed_total: await this.count('nodeplane_command_executions_completed_total'),
        execution_delivered_total: await this.count('nodeplane_command_executions_delivered_total'),
        expiration_total: await this.count('nodeplane_command_expiration_runs_total'),
      },
      ssh: { verifications_failed: sshFailed, verifications_total: await this.count('nodeplane_ssh_verifications_total') },
      reconciliation: await r('reconciliation', ['errors', 'total'] as const),
      self_updates: { completed_total: await this.count('nodeplane_self_update_requests_completed_total') },
      gateways: await r('gateways', ['active_count', 'connections_total', 'scrapes_total'] as const),
      proxy: { ...proxy, bytes_down_mb: mb(proxy.bytes_down_total), bytes_up_mb: mb(proxy.bytes_up_total) },
      event_broker: {
        enabled: this.sources.brokerEnabled,
        enqueues_total: await this.count(METRIC.brokerEnqueues),
        publishes_error_total: publishErrors,
        publishes_ok_total: published,
        publishes_total: published + publishErrors,
      },
      webhook: {
        deliveries_ok_total: ok,
        deliveries_recoverable_total: recoverable,
        deliveries_terminal_total: terminal,
        deliveries_total: ok + recoverable + terminal,
        fan_outs_total: await this.count(METRIC.fanOuts),
      },
      oban_queues: await Promise.all(queues.map(async (q) => ({ ...q, completed: await this.count(METRIC.jobsCompleted, { queue: q.queue }), cancelled: 0 }))),
      timestamp: toSecondPrecision(new Date().toISOString()),
    };
  }

  private application(): AdminMetrics['application'] {
    const memory = process.memoryUsage();
    const uptime = process.uptime();
    const delay = this.loopDelay;
    const sampled = delay.count > 0;
    return {
      uptime_seconds: Math.floor(uptime),
      uptime_human: humanUptime(uptime),
      memory_total_bytes: memory.rss,
      memory_total_mb: mb(memory.rss),
      memory_processes_bytes: memory.heapUsed,
      memory_processes_mb: mb(memory.heapUsed),
      memory_binary_bytes: memory.arrayBuffers,
      memory_binary_mb: mb(memory.arrayBuffers),
      memory_code_bytes: null,
      memory_code_mb: null,
      memory_ets_bytes: null,
      memory_ets_mb: null,
      memory_atom_bytes: null,
      memory_atom_mb: null,
      atom_count: null,
      ets_count: null,
      port_count: process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length,
      process_count: null,
      node_version: process.version,
      heap_total_bytes: memory.heapTotal,
      heap_used_bytes: memory.heapUsed,
      external_bytes: memory.external,
      event_loop_delay_mean_ms: sampled ? lagMs(delay.mean) : null,
      event_loop_delay_p50_ms: sampled ? lagMs(delay.percentile(50)) : null,
      event_loop_delay_p99_ms: sampled ? lagMs(delay.percentile(99)) : null,
      event_loop_delay_max_ms: sampled ? lagMs(delay.max) : null,
      event_loop_utilization: Math.round(performance.eventLoopUtilization().utilization * 1000) / 1000,
    };
  }

  private nodes(): Promise<Record<string, number>> {
    return adminMetricsRepo.nodeCountsByStatus(this.sources.db);
  }

  /** Every known queue, the idle ones included. */
  private async queues() {
    const rows = await adminMetricsRepo.queueCounts(this.sources.db, new Date().toISOString());
    const byQueue = new Map(rows.map((r) => [r.queue, r]));
    const names = [...new Set([...this.sources.queues, ...byQueue.keys()])].sort();
    return names.map((queue) => {
      const row = byQueue.get(queue);
      return {
        queue,
        available: Number(row?.available ?? 0),
        scheduled: Number(row?.scheduled ?? 0),
        executing: Number(row?.executing ?? 0),
        retryable: Number(row?.retryable ?? 0),
        discarded: Number(row?.discarded ?? 0),
      };
    });
  }
}
