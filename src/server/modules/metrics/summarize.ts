/**
 * Turns Prometheus text into the Admin API's host and agent shapes (edge-admin spec §12.3). Host
 * figures use node_exporter names; agent figures use the names in contract/agent-metrics.ts.
 */
import { AGENT_APPLICATION_SOURCES, AGENT_METRICS } from '../../../contract/agent-metrics.ts';
import { type AgentSections, type HostSections, JOB_STATES } from '../../../contract/admin/node-metrics.ts';
import { MetricIndex } from './prometheus-text.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** `1d 2h 30m`, `5h 15m`, `30m`: the contract's examples drop leading zero units only. */
export function humanizeDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3_600);
  const minutes = Math.floor((s % 3_600) / 60);
  if (days > 0) return `${days}d ${hours}h ${minutes}m`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return `${minutes}m`;
}

function capacity(total: number | null, available: number | null): HostSections['memory'] {
  const known = total !== null && available !== null;
  const used = known ? total - available : null;
  return {
    total_bytes: total === null ? null : Math.round(total),
    available_bytes: available === null ? null : Math.round(available),
    used_bytes: used === null ? null : Math.round(used),
    total_gb: total === null ? null : round2(total / GIB),
    available_gb: available === null ? null : round2(available / GIB),
    used_gb: used === null ? null : round2(used / GIB),
    usage_percent: known && total > 0 ? round2((used! / total) * 100) : null,
  };
}

/**
 * The root filesystem's size and free space, read from one series so both figures describe the
 * same device. Older kernels also list a `rootfs` pseudo-mount at "/", which is skipped.
 */
function rootFilesystem(m: MetricIndex): { total: number | null; available: number | null } {
  const sizes = m.all('node_filesystem_size_bytes').filter((s) => s.labels.mountpoint === '/');
  const size = sizes.find((s) => s.labels.fstype !== 'rootfs') ?? sizes[0];
  if (!size) return { total: null, available: null };
  const { device, fstype } = size.labels;
  const match: Record<string, string> = { mountpoint: '/' };
  if (device !== undefined) match.device = device;
  if (fstype !== undefined) match.fstype = fstype;
  return { total: Number.isFinite(size.value) ? size.value : null, available: m.value('node_filesystem_avail_bytes', match) };
}

function cpu(m: MetricIndex): HostSections['cpu'] {
  const series = m.all('node_cpu_seconds_total').filter((s) => Number.isFinite(s.value));
  const cores = new Set(series.map((s) => s.labels.cpu).filter((c) => c !== undefined));
  const total = series.reduce((acc, s) => acc + s.value, 0);
  const idle = series.filter((s) => s.labels.mode === 'idle').reduce((acc, s) => acc + s.value, 0);
  return {
    cores: cores.size > 0 ? cores.size : null,
    load_1m: m.value('node_load1'),
    load_5m: m.value('node_load5'),
    load_15m: m.value('node_load15'),
    usage_percent: total > 0 ? round2(((total - idle) / total) * 100) : null,
  };
}

/**
 * Uptime is measured on the node's own clock (node_time_seconds) when the exporter reports it, so
 * clock skew between node and control plane does not distort it; otherwise against `nowMs`.
 */
function uptime(m: MetricIndex, nowMs: number): HostSections['uptime'] {
  const boot = m.value('node_boot_time_seconds');
  if (boot === null) return { seconds: null, human: null };
  const reference = m.value('node_time_seconds') ?? nowMs / 1000;
  const seconds = Math.max(0, Math.floor(reference - boot));
  return { seconds, human: humanizeDuration(seconds) };
}

/** Host figures from node_exporter text; a figure the text lacks is null. */
export function summarizeHost(text: string, nowMs = Date.now()): HostSections {
  const m = MetricIndex.fromText(text);
  const disk = rootFilesystem(m);
  return {
    cpu: cpu(m),
    memory: capacity(m.value('node_memory_MemTotal_bytes'), m.value('node_memory_MemAvailable_bytes')),
    disk: capacity(disk.total, disk.available),
    uptime: uptime(m, nowMs),
  };
}

/** Agent figures from the agent's text; the contract's fields are plain integers, so absent → 0. */
export function summarizeAgent(text: string): AgentSections {
  const m = MetricIndex.fromText(text);
  const int = (name: string): number => Math.round(m.sum(name) ?? 0);
  const bytes = (name: string) => {
    const value = int(name);
    return [value, round2(value / MIB)] as const;
  };

  const [memoryTotal, memoryTotalMb] = bytes(AGENT_APPLICATION_SOURCES.memory_total_bytes);
  const [memoryProcesses, memoryProcessesMb] = bytes(AGENT_APPLICATION_SOURCES.memory_processes_bytes);
  const [memoryBinary, memoryBinaryMb] = bytes(AGENT_APPLICATION_SOURCES.memory_binary_bytes);
  const [bytesUp, bytesUpMb] = bytes(AGENT_METRICS.proxyBytesUp);
  const [bytesDown, bytesDownMb] = bytes(AGENT_METRICS.proxyBytesDown);
  const uptimeSeconds = Math.max(0, Math.floor(m.sum(AGENT_METRICS.uptimeSeconds) ?? 0));

  return {
    application: {
      memory_total_bytes: memoryTotal,
      memory_total_mb: memoryTotalMb,
      memory_processes_bytes: memoryProcesses,
      memory_processes_mb: memoryProcessesMb,
      memory_binary_bytes: memoryBinary,
      memory_binary_mb: memoryBinaryMb,
      // A Node.js agent has no ETS tables; the contract field stays, always zero.
      memory_ets_bytes: 0,
      memory_ets_mb: 0,
      process_count: int(AGENT_APPLICATION_SOURCES.process_count),
      uptime_seconds: uptimeSeconds,
      uptime_human: humanizeDuration(uptimeSeconds),
    },
    commands: {
      synced_total: int(AGENT_METRICS.commandsSynced),
      enqueued_total: int(AGENT_METRICS.commandsEnqueued),
      completed_total: int(AGENT_METRICS.commandsCompleted),
      reported_total: int(AGENT_METRICS.commandsReported),
    },
    discovery: {
      scans_total: int(AGENT_METRICS.discoveryScans),
      admins_found_last: int(AGENT_METRICS.discoveryAdminsFound),
    },
    // contract/agent-metrics.ts names no block or tunnel-close metrics; the contract's fields stay,
    // as zeros, so clients see one stable shape.
    proxy: {
      bytes_up_total: bytesUp,
      bytes_up_mb: bytesUpMb,
      bytes_down_total: bytesDown,
      bytes_down_mb: bytesDownMb,
      http_connections_total: int(AGENT_METRICS.proxyHttpConnections),
      http_blocked_total: 0,
      http_blocked_by_reason: {},
      socks5_connections_total: int(AGENT_METRICS.proxySocks5Connections),
      socks5_blocked_total: 0,
      socks5_blocked_by_reason: {},
      tunnels_closed_total: 0,
      tunnels_closed_normal_total: 0,
      tunnels_closed_deadline_total: 0,
      tunnels_closed_drain_timeout_total: 0,
    },
    ssh: {
      authentications_total: int(AGENT_METRICS.sshAuthentications),
      connections_total: int(AGENT_METRICS.sshConnections),
    },
    vpn: { pulls_total: int(AGENT_METRICS.vpnPulls) },
    health_check: { reports_total: int(AGENT_METRICS.healthReports) },
    oban_queues: jobQueues(m),
  };
}

type JobQueue = AgentSections['oban_queues'][number];

/** One entry per `queue` label, in the order queues first appear; unknown states are ignored. */
function jobQueues(m: MetricIndex): JobQueue[] {
  const queues = new Map<string, JobQueue>();
  for (const s of m.all(AGENT_METRICS.jobs)) {
    const { queue, state } = s.labels;
    if (queue === undefined) continue;
    let entry = queues.get(queue);
    if (!entry) {
      entry = { queue, available: 0, executing: 0, completed: 0, retryable: 0, discarded: 0 };
      queues.set(queue, entry);
    }
    if (state !== undefined && (JOB_STATES as readonly string[]).includes(state) && Number.isFinite(s.value)) {
      entry[state as (typeof JOB_STATES)[number]] += Math.round(s.value);
    }
  }
  return [...queues.values()];
}
