/** `edge` = bilbycast-edge transport nodes (manager spec §2.2, §4). */
import { asArray, asRecord, counter, type DeviceDriver } from './driver.ts';

const operator = 'operator' as const;

/** Edges report flow state capitalised (`Running`) and tunnel state lower case (`ready`). */
const isState = (value: unknown, wanted: string) => typeof value === 'string' && value.toLowerCase() === wanted;

export const edgeDriver: DeviceDriver = {
  deviceType: 'edge',
  displayName: 'Edge Transport Node',
  commands: [
    { name: 'get_config', description: "Fetch the node's current configuration", requires_role: operator },
    { name: 'update_config', description: 'Replace the whole configuration', requires_role: operator },
    { name: 'create_flow', description: 'Create a flow from existing inputs and outputs', requires_role: operator },
    { name: 'update_flow', description: 'Change a flow', requires_role: operator },
    { name: 'delete_flow', description: 'Stop and remove a flow', requires_role: operator },
    { name: 'start_flow', description: 'Enable and start a flow', requires_role: operator },
    { name: 'stop_flow', description: 'Stop and disable a flow', requires_role: operator },
    { name: 'restart_flow', description: 'Restart a flow', requires_role: operator },
    { name: 'add_output', description: 'Add an output to a running flow', requires_role: operator },
    { name: 'remove_output', description: 'Remove an output from a flow', requires_role: operator },
  ],
  metrics(raw) {
    const stats = asRecord(raw);
    const flows = asArray(stats.flows);
    const tunnels = asArray(stats.tunnels);
    const flowBitrate = flows.reduce<number>((sum, flow) => sum + counter(asRecord(asRecord(flow).input).bitrate_bps), 0);
    const tunnelBitrate = tunnels.reduce<number>((sum, tunnel) => {
      const { bitrate_in_bps, bitrate_out_bps } = asRecord(asRecord(tunnel).stats);
      return sum + Math.max(counter(bitrate_in_bps), counter(bitrate_out_bps));
    }, 0);
    return {
      metrics: [
        ['active_flows', flows.filter((flow) => isState(asRecord(flow).state, 'running')).length],
        ['total_flows', flows.length],
        ['active_tunnels', tunnels.filter((tunnel) => isState(asRecord(tunnel).state, 'ready')).length],
        ['total_tunnels', tunnels.length],
        ['total_bitrate_bps', flowBitrate + tunnelBitrate],
        ['uptime_secs', counter(stats.uptime_secs)],
      ],
      items: [...flows, ...tunnels],
    };
  },
};
