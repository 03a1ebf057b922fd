/**
 * Emulator of an external agent written from manager-protocol.md §7: a bilbycast edge (0.106.0,
 * protocol version 4). Payload shapes from §1.4.1–1.4.2. It keeps an AppConfig v2 (§3) in memory
 * and carries out the §2.2 command set on it with `applyEdgeCommand` (the spec's rules, the same
 * functions the server pre-validates with); `get_config` answers `config_response` with the tunnel
 * secrets stripped; `create_tunnel` upserts by id, `delete_tunnel` removes; `rotate_secret` persists
 * the new secret for the next connection.
 */
import type { AppConfig } from '../../src/contract/manager/edge-config.ts';
import { applyEdgeCommand } from '../../src/server/modules/manager-devices/flow-commands.ts';
import { BilbycastNode, type CommandAck, type CommandHandler, type ManagerBlock, type NodeProfile, type NodeTimings } from './bilbycast-node.ts';

type Tunnel = Record<string, unknown>;

export interface EdgeState {
  config: AppConfig;
}

const FLOW_COMMANDS = ['update_config', 'create_flow', 'update_flow', 'delete_flow', 'start_flow', 'stop_flow', 'restart_flow', 'add_output', 'remove_output'];
const TUNNEL_SECRETS = ['tunnel_encryption_key', 'tunnel_bind_secret', 'tunnel_psk'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const initialEdgeConfig = (): AppConfig => ({
  version: 2,
  server: { listen_addr: '0.0.0.0', listen_port: 8080 },
  inputs: [],
  outputs: [],
  flows: [],
  tunnels: [],
});

const tunnelsOf = (state: EdgeState): Tunnel[] => (state.config.tunnels ?? []) as Tunnel[];

/** What `get_config` reports: infra secrets removed (§1.7). */
function redacted(config: AppConfig): AppConfig {
  const tunnels = ((config.tunnels ?? []) as Tunnel[]).map((tunnel) =>
    Object.fromEntries(Object.entries(tunnel).filter(([key]) => !TUNNEL_SECRETS.includes(key))),
  );
  return { ...config, tunnels };
}

function edgeCommands(state: EdgeState): Record<string, CommandHandler> {
  const flowCommand: CommandHandler = (action) => {
    const outcome = applyEdgeCommand(state.config, action);
    if (!outcome.ok) return { success: false, error: outcome.error, error_code: outcome.error_code };
    state.config = outcome.config;
    return { success: true };
  };
  const commands: Record<string, CommandHandler> = Object.fromEntries(FLOW_COMMANDS.map((name) => [name, flowCommand]));
  commands.get_config = () => ({ config: redacted(state.config) });
  commands.create_tunnel = (action): CommandAck => {
    const tunnel = action.tunnel as Tunnel | undefined;
    if (!tunnel || typeof tunnel !== 'object') return { success: false, error: 'Missing field: tunnel', error_code: 'missing_field' };
    if (typeof tunnel.id !== 'string' || !UUID.test(tunnel.id)) return { success: false, error: 'tunnel id must be a UUID', error_code: 'validation_error' };
    state.config = { ...state.config, tunnels: [...tunnelsOf(state).filter((t) => t.id !== tunnel.id), tunnel] };
    return { success: true };
  };
  commands.delete_tunnel = (action): CommandAck => {
    state.config = { ...state.config, tunnels: tunnelsOf(state).filter((t) => t.id !== action.tunnel_id) };
    return { success: true };
  };
  commands.rotate_secret = (action, node): CommandAck => {
    if (typeof action.new_secret !== 'string' || action.new_secret === '')
      return { success: false, error: 'Missing field: new_secret', error_code: 'missing_field' };
    node.manager.node_secret = action.new_secret;
    return { success: true };
  };
  return commands;
}

export function edgeProfile(overrides: Partial<NodeProfile> = {}, state: EdgeState = { config: initialEdgeConfig() }): NodeProfile {
  const started = Date.now();
  const uptime = () => Math.floor((Date.now() - started) / 1000);
  const totalFlows = () => (state.config.flows ?? []).length;
  return {
    softwareVersion: '0.106.0',
    protocolVersion: 4,
    health: () => ({
      status: 'ok',
      version: '0.106.0',
      uptime_secs: uptime(),
      active_flows: 0,
      total_flows: totalFlows(),
      api_addr: '0.0.0.0:8080',
      monitor_addr: null,
      capabilities: ['st2110-30', 'ptp', 'upgrade'],
      system_resources: { cpu_percent: 3.5, ram_percent: 21.0, ram_used_mb: 410, ram_total_mb: 1987 },
    }),
    stats: () => ({
      flows: [],
      tunnels: [],
      uptime_secs: uptime(),
      active_flows: 0,
      total_flows: totalFlows(),
      system_resources: { cpu_percent: 3.5, ram_percent: 21.0, ram_used_mb: 410, ram_total_mb: 1987 },
    }),
    commands: edgeCommands(state),
    unknownAction: (type) => ({ success: false, error: `Unknown command: ${type}`, error_code: 'unknown_action' }),
    ...overrides,
  };
}

export type BilbycastEdge = BilbycastNode & { state: EdgeState };

export const bilbycastEdge = (manager: ManagerBlock, timings?: NodeTimings, profile?: Partial<NodeProfile>): BilbycastEdge => {
  const state: EdgeState = { config: initialEdgeConfig() };
  return Object.assign(new BilbycastNode(edgeProfile(profile, state), manager, timings), { state });
};
