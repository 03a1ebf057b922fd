import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OperatorPrincipal, Role } from '../../principal.ts';
import { DeviceTypesService, InsufficientRoleError } from './device-types.service.ts';
import type { DeviceDriver } from './driver.ts';
import { DRIVERS } from './drivers.ts';

const registry = new DeviceTypesService(DRIVERS);
const operatorWith = (role: Role): OperatorPrincipal => ({
  type: 'operator',
  id: '00000000-0000-4000-8000-000000000001',
  username: 'u',
  role,
  allowedNodeIds: null,
  credential: { kind: 'token', tokenId: 't' },
});

describe('device driver registry', () => {
  it('lists edge with the ten core commands for operators and relay with seven', () => {
    const types = registry.list().device_types;
    const edge = types.find((t) => t.device_type === 'edge')!;
    const relay = types.find((t) => t.device_type === 'relay')!;
    assert.equal(edge.display_name, 'Edge Transport Node');
    assert.deepEqual(
      edge.supported_commands.map((c) => c.name),
      ['get_config', 'update_config', 'create_flow', 'update_flow', 'delete_flow', 'start_flow', 'stop_flow', 'restart_flow', 'add_output', 'remove_output'],
    );
    assert.ok(edge.supported_commands.every((c) => c.requires_role === 'operator' && c.description.length > 0));
    assert.equal(relay.display_name, 'Relay Server');
    assert.deepEqual(
      relay.supported_commands.map((c) => [c.name, c.requires_role]),
      [
        ['get_config', 'operator'],
        ['disconnect_edge', 'admin'],
        ['close_tunnel', 'admin'],
        ['list_tunnels', 'operator'],
        ['list_edges', 'operator'],
        ['authorize_tunnel', 'admin'],
        ['revoke_tunnel', 'admin'],
      ],
    );
  });

  it('refuses a command below its role with insufficient_role and lets undeclared actions through', () => {
    assert.throws(() => registry.assertCommandAllowed(operatorWith('viewer'), 'edge', 'create_flow'), InsufficientRoleError);
    assert.throws(
      () => registry.assertCommandAllowed(operatorWith('operator'), 'relay', 'close_tunnel'),
      (error: InsufficientRoleError) => error.code === 'forbidden' && error.errorCode === 'insufficient_role',
    );
    registry.assertCommandAllowed(operatorWith('operator'), 'edge', 'create_flow');
    registry.assertCommandAllowed(operatorWith('admin'), 'relay', 'close_tunnel');
    registry.assertCommandAllowed({ type: 'api-key', key: 'master' }, 'relay', 'revoke_tunnel');
    // The node answers unknown actions itself (unknown_action).
    registry.assertCommandAllowed(operatorWith('viewer'), 'edge', 'reboot_everything');
  });

  it('a third device type is one more driver in the list', () => {
    const gateway: DeviceDriver = {
      deviceType: 'gateway',
      displayName: 'Gateway',
      commands: [{ name: 'reboot', description: 'Reboot', requires_role: 'super_admin' }],
      metrics: () => ({ metrics: [['up', 1]], items: [] }),
    };
    const extended = new DeviceTypesService([...DRIVERS, gateway]);
    assert.deepEqual(
      extended.list().device_types.map((t) => t.device_type),
      ['edge', 'relay', 'gateway'],
    );
    assert.throws(() => extended.assertCommandAllowed(operatorWith('admin'), 'gateway', 'reboot'), InsufficientRoleError);
    assert.deepEqual(extended.metrics('gateway', {}), { metrics: [['up', 1]], items: [] });
    assert.deepEqual(extended.metrics('unknown', {}), { metrics: [], items: [] });
  });
});

describe('driver metrics (§4)', () => {
  it('edge: counts flows case-insensitively, sums input bitrate and each tunnel max(in, out)', () => {
    const flows = [
      { flow_id: 'f1', state: 'Running', input: { bitrate_bps: 5_000_000 } },
      { flow_id: 'f2', state: 'Idle', input: { bitrate_bps: 1_000 } },
      { flow_id: 'f3', state: 'running', input: {} },
    ];
    const tunnels = [
      { id: 't1', state: 'ready', stats: { bitrate_in_bps: 300, bitrate_out_bps: 700 } },
      { id: 't2', state: 'connecting', stats: { bitrate_in_bps: 50, bitrate_out_bps: 10 } },
    ];
    assert.deepEqual(registry.metrics('edge', { flows, tunnels, uptime_secs: 42, active_flows: 99 }), {
      metrics: [
        ['active_flows', 2],
        ['total_flows', 3],
        ['active_tunnels', 1],
        ['total_tunnels', 2],
        ['total_bitrate_bps', 5_001_000 + 700 + 50],
        ['uptime_secs', 42],
      ],
      items: [...flows, ...tunnels],
    });
  });

  it('edge: a fallback frame without flows, or garbage, reads as zeros', () => {
    assert.deepEqual(registry.metrics('edge', { flows: 'x', tunnels: null }).metrics, [
      ['active_flows', 0],
      ['total_flows', 0],
      ['active_tunnels', 0],
      ['total_tunnels', 0],
      ['total_bitrate_bps', 0],
      ['uptime_secs', 0],
    ]);
    assert.deepEqual(registry.metrics('edge', null).items, []);
  });

  it('relay: the relay counters in order, items = tunnels', () => {
    const tunnels = [{ tunnel_id: 'a', status: 'active' }];
    const summary = registry.metrics('relay', {
      tunnels,
      active_tunnels: 1,
      total_tunnels: 3,
      connected_edges: 2,
      total_bytes_forwarded: 10,
      uptime_secs: 7,
      peak_edges: 'x',
    });
    assert.deepEqual(summary.items, tunnels);
    assert.deepEqual(Object.fromEntries(summary.metrics), {
      active_tunnels: 1,
      total_tunnels: 3,
      connected_edges: 2,
      total_bytes_ingress: 0,
      total_bytes_egress: 0,
      total_bytes_forwarded: 10,
      total_bandwidth_bps: 0,
      total_tcp_streams: 0,
      active_tcp_streams: 0,
      total_udp_datagrams: 0,
      udp_sessions_total: 0,
      udp_sessions_active: 0,
      peak_tunnels: 0,
      peak_edges: 0,
      connections_total: 0,
      uptime_secs: 7,
    });
    assert.equal(summary.metrics[0]![0], 'active_tunnels');
    assert.equal(summary.metrics.at(-1)![0], 'uptime_secs');
  });
});
