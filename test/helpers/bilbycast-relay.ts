/**
 * Emulator of an external agent written from manager-protocol.md §7: a bilbycast relay (0.10.6,
 * protocol version 1). Payload shapes from §1.4.1–1.4.2; commands: `get_config` (redacted config),
 * `list_tunnels`, `list_edges`; the §2.3 set (authorize/revoke with bind tokens) plugs into `commands`.
 */
import { BilbycastNode, type ManagerBlock, type NodeProfile, type NodeTimings } from './bilbycast-node.ts';

export function relayProfile(overrides: Partial<NodeProfile> = {}): NodeProfile {
  const started = Date.now();
  const uptime = () => Math.floor((Date.now() - started) / 1000);
  const counters = () => ({
    connected_edges: 0,
    active_tunnels: 0,
    total_tunnels: 0,
    total_bytes_forwarded: 0,
    peak_tunnels: 0,
    peak_edges: 0,
    connections_total: 0,
    udp_sessions_total: 0,
    udp_sessions_active: 0,
    uptime_secs: uptime(),
  });
  return {
    softwareVersion: '0.10.6',
    protocolVersion: 1,
    health: () => ({ status: 'ok', version: '0.10.6', ...counters(), api_addr: '0.0.0.0:4480', quic_addr: '0.0.0.0:4433', capabilities: ['udp-relay'] }),
    stats: () => ({ tunnels: [], edges: [], udp_sessions: [], total_bytes_ingress: 0, total_bytes_egress: 0, total_bandwidth_bps: 0, ...counters() }),
    commands: {
      get_config: () => ({ config: { manager: { node_secret: '***REDACTED***' }, api_token: '***REDACTED***' } }),
      list_tunnels: () => ({ success: true, data: [] }),
      list_edges: () => ({ success: true, data: [] }),
    },
    unknownAction: (type) => ({ success: false, error: `Unknown relay command: ${type}` }),
    ...overrides,
  };
}

export const bilbycastRelay = (manager: ManagerBlock, timings?: NodeTimings, profile?: Partial<NodeProfile>) =>
  new BilbycastNode(relayProfile(profile), manager, timings);
