/** `relay` = bilbycast-relay servers (manager spec §2.3, §4). */
import { asArray, asRecord, counter, type DeviceDriver } from './driver.ts';

/** The relay's own counters (§1.4.1), in the order the dashboard shows them. */
const COUNTERS = [
  'active_tunnels',
  'total_tunnels',
  'connected_edges',
  'total_bytes_ingress',
  'total_bytes_egress',
  'total_bytes_forwarded',
  'total_bandwidth_bps',
  'total_tcp_streams',
  'active_tcp_streams',
  'total_udp_datagrams',
  'udp_sessions_total',
  'udp_sessions_active',
  'peak_tunnels',
  'peak_edges',
  'connections_total',
  'uptime_secs',
] as const;

export const relayDriver: DeviceDriver = {
  deviceType: 'relay',
  displayName: 'Relay Server',
  commands: [
    { name: 'get_config', description: "Fetch the relay's configuration (secrets redacted)", requires_role: 'operator' },
    { name: 'disconnect_edge', description: 'Disconnect one edge from the relay (edge_id)', requires_role: 'admin' },
    { name: 'close_tunnel', description: 'Close one tunnel on both sides (tunnel_id)', requires_role: 'admin' },
    { name: 'list_tunnels', description: 'List active and waiting tunnels', requires_role: 'operator' },
    { name: 'list_edges', description: 'List connected edges', requires_role: 'operator' },
    { name: 'authorize_tunnel', description: 'Register the bind tokens of a tunnel (tunnel_id, ingress_token, egress_token)', requires_role: 'admin' },
    { name: 'revoke_tunnel', description: 'Remove the bind authorization of a tunnel (tunnel_id)', requires_role: 'admin' },
  ],
  metrics(raw) {
    const stats = asRecord(raw);
    return { metrics: COUNTERS.map((name) => [name, counter(stats[name])]), items: asArray(stats.tunnels) };
  },
};
