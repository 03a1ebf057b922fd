/**
 * `GET /api/v1/admins/me/metrics` (contract AdminMetricsResponse, edge-admin spec §12.3): this
 * instance's own figures in the contract's blocks. Upstream fills `application` from the BEAM; we
 * fill the analogous fields from this Node.js process (the BEAM-only ones are null) and add the
 * event-loop figures. Counters are this process's since it started, as Prometheus counters are.
 */
import { Type, type Static } from 'typebox';
import { Nullable, Timestamp } from '../types.ts';

const Int = Nullable(Type.Integer());
const Num = Nullable(Type.Number());
const Bool = Nullable(Type.Boolean());

export const AdminApplicationMetrics = Type.Object({
  uptime_seconds: Int,
  uptime_human: Nullable(Type.String()),
  /** Resident set size. */
  memory_total_bytes: Int,
  memory_total_mb: Num,
  /** JS heap in use: what the BEAM reports as process memory. */
  memory_processes_bytes: Int,
  memory_processes_mb: Num,
  /** ArrayBuffers and Buffers: what the BEAM reports as binary memory. */
  memory_binary_bytes: Int,
  memory_binary_mb: Num,
  memory_code_bytes: Int,
  memory_code_mb: Num,
  memory_ets_bytes: Int,
  memory_ets_mb: Num,
  memory_atom_bytes: Int,
  memory_atom_mb: Num,
  atom_count: Int,
  ets_count: Int,
  /** Open sockets, servers, files and other non-timer handles. */
  port_count: Int,
  process_count: Int,
  node_version: Type.String(),
  heap_total_bytes: Int,
  heap_used_bytes: Int,
  external_bytes: Int,
  /** Event-loop delay since the metrics routes were installed (perf_hooks histogram). */
  event_loop_delay_mean_ms: Num,
  event_loop_delay_p50_ms: Num,
  event_loop_delay_p99_ms: Num,
  event_loop_delay_max_ms: Num,
  /** Share of time the event loop was busy since the process started, 0–1. */
  event_loop_utilization: Num,
});

export const AdminMetrics = Type.Object({
  application: AdminApplicationMetrics,
  metadata: Type.Object({ assigned_clusters: Int, degraded: Bool, orphaned_clusters: Int, recomputations_total: Int }),
  membership: Type.Object({ complete_total: Int, steps_completed_total: Int }),
  discovery: Type.Object({ dns_resolutions_total: Int, peer_connections_total: Int, scans_total: Int }),
  nodes: Type.Object({
    health_checks_total: Int,
    /** Every node of every kind in the shared database. */
    total: Int,
    by_status: Type.Record(Type.String(), Type.Integer()),
  }),
  quantum: Type.Object({ jobs_exceptions_total: Int, jobs_executed_total: Int }),
  vpn: Type.Object({ zombie_cleanup_deleted_count: Int, zombie_cleanup_total: Int }),
  commands: Type.Object({
    delivery_delivered_count: Int,
    delivery_total: Int,
    execution_completed_total: Int,
    execution_delivered_total: Int,
    expiration_total: Int,
  }),
  ssh: Type.Object({ verifications_failed: Int, verifications_total: Int }),
  reconciliation: Type.Object({ errors: Int, total: Int }),
  self_updates: Type.Object({ completed_total: Int }),
  gateways: Type.Object({ active_count: Int, connections_total: Int, scrapes_total: Int }),
  proxy: Type.Object({
    auth_failures_total: Int,
    bytes_down_mb: Num,
    bytes_down_total: Int,
    bytes_up_mb: Num,
    bytes_up_total: Int,
    connections_auth_failed_total: Int,
    connections_failure_total: Int,
    connections_success_total: Int,
    connections_total: Int,
    tunnels_closed_deadline_total: Int,
    tunnels_closed_drain_timeout_total: Int,
    tunnels_closed_normal_total: Int,
    tunnels_closed_total: Int,
  }),
  event_broker: Type.Object({ enabled: Bool, enqueues_total: Int, publishes_error_total: Int, publishes_ok_total: Int, publishes_total: Int }),
  webhook: Type.Object({
    deliveries_ok_total: Int,
    deliveries_recoverable_total: Int,
    deliveries_terminal_total: Int,
    deliveries_total: Int,
    fan_outs_total: Int,
  }),
  /** Durable job queues (the Oban queues upstream): states counted from the jobs table. */
  oban_queues: Type.Array(
    Type.Object({
      queue: Type.String(),
      available: Type.Integer(),
      scheduled: Type.Integer(),
      executing: Type.Integer(),
      retryable: Type.Integer(),
      /** Finished jobs are deleted, so this counts those finished by this process since it started. */
      completed: Type.Integer(),
      discarded: Type.Integer(),
      cancelled: Type.Integer(),
    }),
  ),
  timestamp: Timestamp,
});
export type AdminMetrics = Static<typeof AdminMetrics>;
