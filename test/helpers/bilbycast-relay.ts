/**
 * Emulator of an external agent written from manager-protocol.md §7: a bilbycast relay (0.10.6,
 * protocol version 1). Payload shapes from §1.4.1–1.4.2; the §2.3 commands: `get_config` (redacted
 * config), `list_tunnels`, `list_edges`, `authorize_tunnel` / `revoke_tunnel` on an in-memory
 * registry of bind tokens (what `verifyBind` checks an edge's `TunnelBind` against), `close_tunnel`,
 * `disconnect_edge`, `rotate_secret`; anything else is "Unknown relay command: X".
 */
import { BilbycastNode, type CommandAck, type CommandHandler, type ManagerBlock, type NodeProfile, type NodeTimings } from './bilbycast-node.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RelayState {
  /** tunnel id → the token each direction must bind with (in memory only, as the relay keeps them). */
  authorized: Map<string, { ingress: string; egress: string }>;
  /** A relay running `require_bind_auth: true` refuses binds to tunnels it has no authorization for. */
  requireBindAuth: boolean;
}

/** The relay's check of an edge's `TunnelBind` (§2.4). */
export function verifyBind(state: RelayState, tunnelId: string, direction: 'ingress' | 'egress', token: string): boolean {
  const authorization = state.authorized.get(tunnelId.toLowerCase());
  if (!authorization) return !state.requireBindAuth;
  return authorization[direction] === token;
}

function relayCommands(state: RelayState): Record<string, CommandHandler> {
  const tunnelId = (action: Record<string, unknown>): string | CommandAck =>
    typeof action.tunnel_id === 'string' && UUID.test(action.tunnel_id)
      ? action.tunnel_id.toLowerCase()
      : { success: false, error: `Invalid UUID: ${String(action.tunnel_id)}` };
  return {
    get_config: () => ({ config: { manager: { node_secret: '***REDACTED***' }, api_token: '***REDACTED***' } }),
    list_tunnels: () => ({ success: true, data: [] }),
    list_edges: () => ({ success: true, data: [] }),
    disconnect_edge: (action) => ({ success: false, error: `Edge '${String(action.edge_id)}' is not connected` }),
    close_tunnel: (action) => {
      const id = tunnelId(action);
      return typeof id === 'string' ? { success: false, error: `Tunnel '${id}' not found` } : id;
    },
    authorize_tunnel: (action) => {
      const id = tunnelId(action);
      if (typeof id !== 'string') return id;
      state.authorized.set(id, { ingress: String(action.ingress_token), egress: String(action.egress_token) });
      return { success: true };
    },
    revoke_tunnel: (action) => {
      const id = tunnelId(action);
      if (typeof id !== 'string') return id;
      state.authorized.delete(id);
      return { success: true };
    },
    rotate_secret: (action, node) => {
      if (typeof action.new_secret !== 'string' || action.new_secret === '') return { success: false, error: 'missing new_secret' };
      node.manager.node_secret = action.new_secret;
      return { success: true, error: null };
    },
  };
}

export function relayProfile(overrides: Partial<NodeProfile> = {}, state: RelayState = { authorized: new Map(), requireBindAuth: false }): NodeProfile {
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
    commands: relayCommands(state),
    unknownAction: (type) => ({ success: false, error: `Unknown relay command: ${type}` }),
    ...overrides,
  };
}

export type BilbycastRelay = BilbycastNode & { state: RelayState; verifyBind(tunnelId: string, direction: 'ingress' | 'egress', token: string): boolean };

export const bilbycastRelay = (manager: ManagerBlock, timings?: NodeTimings, profile?: Partial<NodeProfile>): BilbycastRelay => {
  const state: RelayState = { authorized: new Map(), requireBindAuth: false };
  return Object.assign(new BilbycastNode(relayProfile(profile, state), manager, timings), {
    state,
    verifyBind: (tunnelId: string, direction: 'ingress' | 'egress', token: string) => verifyBind(state, tunnelId, direction, token),
  });
};
