/**
 * The event catalog: every event type Nodeplane publishes and the shape of its `data`.
 * The Edge Admin contract fixes the first 15 and their order (`GET /api/v1/event_types`); later
 * faces append their own types as one entry each.
 */

export interface EdgeNodeEventData {
  node_id: string;
  cluster_name: string | null;
  status: string;
  version: string | null;
  id_type: string;
  http_port: number;
  ssh_port: number;
  host_metrics_port: number;
  wireguard_metrics_port: number;
  http_proxy_port: number;
  socks5_proxy_port: number;
  self_update_enabled: boolean;
  last_seen_at: string | null;
  inserted_at: string;
  updated_at: string;
}

export interface CommandExecutionEventData {
  command_execution_id: string;
  command_id: string;
  node_id: string | null;
  cluster_name: string | null;
  command_text: string;
  timeout: number | null;
  status: string;
  exit_code: number | null;
  target_all: boolean;
  expired_at: string | null;
  sent_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  inserted_at: string;
  updated_at: string;
}

/** A Core node (VPN service) as events carry it: no auth key, no registration code secret. */
export interface CoreNodeEventData {
  node_id: string;
  core_id: number;
  name: string;
  code: string;
  host: string;
  ip: string | null;
  region: string | null;
  status: string;
  sync_status: string;
  revision: number;
  applied_revision: number | null;
  last_seen_at: string | null;
  inserted_at: string;
  updated_at: string;
}

/** One audit log row (Admin API write or login), as `GET /api/v1/audit` renders it. */
export interface AuditRecordedEventData {
  id: string;
  at: string;
  actor_type: 'operator' | 'token' | 'api-key' | 'node' | 'public';
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  details: Record<string, unknown> | null;
}

/** A manager-face node (bilbycast edge or relay): no token, no secret. */
export interface ManagerNodeEventData {
  node_id: string;
  kind: string;
  name: string;
  device_type: string;
  status: string;
  software_version: string | null;
  protocol_version: number | null;
  last_seen_at: string | null;
}

/** A manager tunnel (manager spec §2.4) as its API renders it: never its secrets. */
export interface ManagerTunnelEventData {
  id: string;
  name: string;
  protocol: string;
  mode: string;
  ingress_node_id: string;
  ingress_listen_port: number;
  egress_node_id: string;
  egress_forward_addr: string;
  egress_peer_addr: string | null;
  relay_addr: string | null;
  relay_node_id: string | null;
  status: string;
  associated_flow_ids: string[] | null;
  ingress_push_status: string;
  egress_push_status: string;
  relay_push_status: string | null;
  ingress_push_error: string | null;
  egress_push_error: string | null;
  relay_push_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface EventDataMap {
  'edge.node.registered': EdgeNodeEventData;
  'edge.node.reregistered': EdgeNodeEventData;
  'edge.node.version_changed': EdgeNodeEventData & { previous_version: string | null };
  'edge.node.status_changed': EdgeNodeEventData & { previous_status: string };
  'edge.node.cluster_changed': EdgeNodeEventData & { previous_cluster_name: string | null };
  'edge.node.update_triggered': EdgeNodeEventData & { self_update_request_id: string };
  'edge.command_execution.created': CommandExecutionEventData;
  'edge.command_execution.sent': CommandExecutionEventData;
  'edge.command_execution.completed': CommandExecutionEventData;
  'edge.command_execution.cancelled': CommandExecutionEventData;
  'edge.command_execution.expired': CommandExecutionEventData;
  'edge.command_execution.pruned': CommandExecutionEventData;
  'edge.enrollment_key.verified': {
    enrollment_key_id: string | null;
    cluster_name: string | null;
    name: string | null;
    uses_remaining: number | null;
    result: 'verified' | 'invalid_key' | 'key_expired' | 'key_spent' | 'node_limit_reached';
    verified_at: string;
    /**
     * Attempts this event stands for: 1, except for failed attempts, which are recorded once per
     * key and outcome per window (the first at once, the rest summed at the window's end).
     */
    attempts: number;
  };
  'edge.ssh_username.verified': {
    ssh_username_id: string | null;
    node_id: string | null;
    cluster_name: string | null;
    username: string;
    auth_method: 'password' | 'public_key' | 'unknown';
    result: 'success' | 'failure';
    verified_at: string;
  };
  'edge.self_update_request.completed': {
    self_update_request_id: string;
    status: string;
    targeting: unknown;
    summary: { total: number; triggered: number; failed: number } | null;
    inserted_at: string;
    updated_at: string;
  };
  'core.node.registered': CoreNodeEventData & { reregistered: boolean };
  'core.node.config_applied': CoreNodeEventData;
  'core.node.error': CoreNodeEventData & { error: { message: string; code: string | null; at: string } };
  'core.node.status_changed': CoreNodeEventData & { previous_status: string };
  /** A subscription reached its traffic limit and left every node config (no credentials in events). */
  'vpn.subscription.limited': {
    subscription_id: number;
    user_id: number;
    used_bytes: number;
    traffic_limit_bytes: number;
    limited_at: string;
  };
  /** A subscription passed its expires_at and left every node config. */
  'vpn.subscription.expired': {
    subscription_id: number;
    user_id: number;
    expires_at: string;
    expired_at: string;
  };
  'audit.recorded': AuditRecordedEventData;
  /** A manager node consumed its registration token and received its node secret. */
  'manager.node.registered': ManagerNodeEventData;
  'manager.node.connected': ManagerNodeEventData;
  'manager.node.disconnected': ManagerNodeEventData;
  'manager.tunnel.created': ManagerTunnelEventData;
  'manager.tunnel.updated': ManagerTunnelEventData;
  'manager.tunnel.deleted': ManagerTunnelEventData;
  /** Pushing its legs moved the tunnel between pending and active (or it was switched off or on). */
  'manager.tunnel.status_changed': ManagerTunnelEventData & { previous_status: string };
  'manager.node.event': {
    node_id: string;
    severity: string;
    category: string;
    message: string;
    details: Record<string, unknown> | null;
    flow_id: string | null;
    created_at: string;
  };
}

export type EventType = keyof EventDataMap;

/** Catalog order, as `GET /api/v1/event_types` must list it. */
export const EVENT_TYPES: readonly EventType[] = [
  'edge.node.registered',
  'edge.node.reregistered',
  'edge.node.version_changed',
  'edge.node.status_changed',
  'edge.node.cluster_changed',
  'edge.node.update_triggered',
  'edge.command_execution.created',
  'edge.command_execution.sent',
  'edge.command_execution.completed',
  'edge.command_execution.cancelled',
  'edge.command_execution.expired',
  'edge.command_execution.pruned',
  'edge.enrollment_key.verified',
  'edge.ssh_username.verified',
  'edge.self_update_request.completed',
  'core.node.registered',
  'core.node.config_applied',
  'core.node.error',
  'core.node.status_changed',
  'vpn.subscription.limited',
  'vpn.subscription.expired',
  'audit.recorded',
  'manager.node.registered',
  'manager.node.connected',
  'manager.node.disconnected',
  'manager.tunnel.created',
  'manager.tunnel.updated',
  'manager.tunnel.deleted',
  'manager.tunnel.status_changed',
  'manager.node.event',
];

export const isEventType = (value: string): value is EventType => (EVENT_TYPES as readonly string[]).includes(value);

/** CloudEvents 1.0 envelope, built once when the event is written and delivered byte-identical. */
export interface EventEnvelope<T extends EventType = EventType> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  time: string;
  datacontenttype: 'application/json';
  corename: string;
  data: EventDataMap[T];
}

export const EVENT_SOURCE = 'https://github.com/wenet-ec/edge-core';
