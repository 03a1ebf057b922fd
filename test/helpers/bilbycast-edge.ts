/**
 * Emulator of an external agent written from manager-protocol.md §7: a bilbycast edge (0.106.0,
 * protocol version 4). Payload shapes from §1.4.1–1.4.2; commands: `get_config` answered with the
 * in-memory AppConfig v2 (§3); the §2.2 command set plugs into `commands`.
 */
import { BilbycastNode, type ManagerBlock, type NodeProfile, type NodeTimings } from './bilbycast-node.ts';

export function edgeProfile(overrides: Partial<NodeProfile> = {}): NodeProfile {
  const started = Date.now();
  const config = { version: 2, server: { listen_addr: '0.0.0.0', listen_port: 8080 }, inputs: [], outputs: [], flows: [], tunnels: [] };
  const uptime = () => Math.floor((Date.now() - started) / 1000);
  return {
    softwareVersion: '0.106.0',
    protocolVersion: 4,
    health: () => ({
      status: 'ok',
      version: '0.106.0',
      uptime_secs: uptime(),
      active_flows: 0,
      total_flows: config.flows.length,
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
      total_flows: config.flows.length,
      system_resources: { cpu_percent: 3.5, ram_percent: 21.0, ram_used_mb: 410, ram_total_mb: 1987 },
    }),
    commands: { get_config: () => ({ config }) },
    unknownAction: (type) => ({ success: false, error: `Unknown command: ${type}`, error_code: 'unknown_action' }),
    ...overrides,
  };
}

export const bilbycastEdge = (manager: ManagerBlock, timings?: NodeTimings, profile?: Partial<NodeProfile>) =>
  new BilbycastNode(edgeProfile(profile), manager, timings);
