/**
 * Node metrics as the Admin API renders them (contract operations get_node_metrics,
 * get_host_metrics, get_agent_metrics: HostMetricsResponse, AgentMetricsResponse,
 * UnifiedMetricsResponse). Figures come from the latest snapshot each node pushed.
 */
import { Type, type Static, type TInteger } from 'typebox';
import { Nullable, Timestamp, Uuid } from '../types.ts';

const Int = Nullable(Type.Integer());
const Num = Nullable(Type.Number());

export const HostCpu = Type.Object({
  cores: Int,
  load_1m: Num,
  load_5m: Num,
  load_15m: Num,
  /** Non-idle share of CPU time since boot: a single snapshot holds counters, not a rate. */
  usage_percent: Num,
});

/** Memory and root-filesystem figures share one shape; GB are GiB (2^30), rounded to 2 decimals. */
const Capacity = Type.Object({
  total_bytes: Int,
  available_bytes: Int,
  used_bytes: Int,
  total_gb: Num,
  available_gb: Num,
  used_gb: Num,
  usage_percent: Num,
});

export const HostMemory = Capacity;
export const HostDisk = Capacity;

export const HostUptime = Type.Object({
  seconds: Int,
  human: Nullable(Type.String()),
});

export const HostSections = Type.Object({ cpu: HostCpu, memory: HostMemory, disk: HostDisk, uptime: HostUptime });
export type HostSections = Static<typeof HostSections>;

/** Shared by every metrics view: the node, its cluster (null for kinds without one), snapshot time. */
const Subject = {
  node_id: Uuid,
  cluster_name: Nullable(Type.String()),
  timestamp: Timestamp,
};

export const HostMetrics = Type.Object({ ...Subject, ...HostSections.properties });
export type HostMetrics = Static<typeof HostMetrics>;

const Counts = <K extends string>(keys: readonly K[]) => Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Integer()])) as Record<K, TInteger>);

export const AgentApplication = Type.Object({
  memory_total_bytes: Type.Integer(),
  memory_total_mb: Type.Number(),
  memory_processes_bytes: Type.Integer(),
  memory_processes_mb: Type.Number(),
  memory_binary_bytes: Type.Integer(),
  memory_binary_mb: Type.Number(),
  memory_ets_bytes: Type.Integer(),
  memory_ets_mb: Type.Number(),
  process_count: Type.Integer(),
  uptime_seconds: Type.Integer(),
  uptime_human: Type.String(),
});

const ByReason = Type.Object({}, { additionalProperties: Type.Integer() });

export const AgentProxy = Type.Object({
  bytes_up_total: Type.Integer(),
  bytes_up_mb: Type.Number(),
  bytes_down_total: Type.Integer(),
  bytes_down_mb: Type.Number(),
  http_connections_total: Type.Integer(),
  http_blocked_total: Type.Integer(),
  http_blocked_by_reason: ByReason,
  socks5_connections_total: Type.Integer(),
  socks5_blocked_total: Type.Integer(),
  socks5_blocked_by_reason: ByReason,
  tunnels_closed_total: Type.Integer(),
  tunnels_closed_normal_total: Type.Integer(),
  tunnels_closed_deadline_total: Type.Integer(),
  tunnels_closed_drain_timeout_total: Type.Integer(),
});

export const JOB_STATES = ['available', 'executing', 'completed', 'retryable', 'discarded'] as const;

export const JobQueue = Type.Object({ queue: Type.String(), ...Counts(JOB_STATES).properties });

export const AgentSections = Type.Object({
  application: AgentApplication,
  commands: Counts(['synced_total', 'enqueued_total', 'completed_total', 'reported_total'] as const),
  discovery: Counts(['scans_total', 'admins_found_last'] as const),
  proxy: AgentProxy,
  ssh: Counts(['authentications_total', 'connections_total'] as const),
  vpn: Counts(['pulls_total'] as const),
  health_check: Counts(['reports_total'] as const),
  oban_queues: Type.Array(JobQueue),
});
export type AgentSections = Static<typeof AgentSections>;

export const AgentMetrics = Type.Object({ ...Subject, ...AgentSections.properties });
export type AgentMetrics = Static<typeof AgentMetrics>;

/** A unified section is the source's figures plus `available: true`, or `available: false` + `error`. */
const Availability = { available: Type.Boolean(), error: Type.Optional(Type.String()) };

export const UnifiedMetrics = Type.Object({
  ...Subject,
  host: Type.Object({ ...Availability, ...Type.Partial(HostSections).properties }),
  agent: Type.Object({ ...Availability, ...Type.Partial(AgentSections).properties }),
});
export type UnifiedMetrics = Static<typeof UnifiedMetrics>;

/** Any string: a malformed id is an unknown node (404), as the contract's domain lookups answer. */
export const NodeMetricsParams = Type.Object({ node_id: Type.String() }, { additionalProperties: false });

/** Served as-is for Prometheus to scrape (the raw routes and the server's own /metrics). */
export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4';
