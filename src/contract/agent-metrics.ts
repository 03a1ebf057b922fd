/**
 * Prometheus metric names the Nodeplane agent exposes (and pushes as `metrics_type: "agent"`), and
 * which the control plane parses into the Admin API's AgentMetrics shape. Host metrics use the
 * node_exporter names (`node_cpu_seconds_total`, `node_load1`, …) so any exporter's text works.
 *
 * The `application` block of the contract describes an Erlang VM; for a Node.js agent it is filled
 * from prom-client's default process/Node.js metrics (see AGENT_APPLICATION_SOURCES).
 */
export const AGENT_METRICS = {
  uptimeSeconds: 'nodeplane_agent_uptime_seconds',
  commandsSynced: 'nodeplane_agent_commands_synced_total',
  commandsEnqueued: 'nodeplane_agent_commands_enqueued_total',
  commandsCompleted: 'nodeplane_agent_commands_completed_total',
  commandsReported: 'nodeplane_agent_commands_reported_total',
  discoveryScans: 'nodeplane_agent_discovery_scans_total',
  discoveryAdminsFound: 'nodeplane_agent_discovery_admins_found',
  healthReports: 'nodeplane_agent_health_reports_total',
  proxyBytesUp: 'nodeplane_agent_proxy_bytes_up_total',
  proxyBytesDown: 'nodeplane_agent_proxy_bytes_down_total',
  proxyHttpConnections: 'nodeplane_agent_proxy_http_connections_total',
  proxySocks5Connections: 'nodeplane_agent_proxy_socks5_connections_total',
  sshAuthentications: 'nodeplane_agent_ssh_authentications_total',
  sshConnections: 'nodeplane_agent_ssh_connections_total',
  vpnPulls: 'nodeplane_agent_vpn_pulls_total',
  /** Gauge with labels `queue` and `state` (available|executing|completed|retryable|discarded). */
  jobs: 'nodeplane_agent_jobs',
} as const;

/** prom-client default metrics that stand in for the contract's Erlang `application` figures. */
export const AGENT_APPLICATION_SOURCES = {
  memory_total_bytes: 'process_resident_memory_bytes',
  memory_processes_bytes: 'nodejs_heap_size_used_bytes',
  memory_binary_bytes: 'nodejs_external_memory_bytes',
  process_count: 'nodejs_active_handles_total',
} as const;
