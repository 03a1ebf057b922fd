import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppConfig } from '../../../contract/manager/edge-config.ts';
import { validateEdgeConfig } from './edge-config.validate.ts';
import { endpointsOf } from './endpoints.ts';
import { applyEdgeCommand } from './flow-commands.ts';

/** The §3 minimal example, with the required `version` and `server`. */
const minimal = (): AppConfig => ({
  version: 2,
  server: { listen_addr: '0.0.0.0', listen_port: 8080 },
  inputs: [{ id: 'in1', name: 'SRT in', type: 'srt', mode: 'listener', local_addr: '0.0.0.0:9000' }],
  outputs: [{ type: 'udp', id: 'out1', name: 'UDP out', dest_addr: '239.1.1.1:5000' }],
  flows: [{ id: 'f1', name: 'Main', input_ids: ['in1'], output_ids: ['out1'] }],
});

/** The errors of `minimal()` after `change`: exactly one field must be named. */
function violation(change: (config: any) => void): [string, string[]] {
  const config = structuredClone(minimal()) as any;
  change(config);
  const details = validateEdgeConfig(config);
  assert.ok(details, 'expected a violation');
  const entries = Object.entries(details);
  assert.equal(entries.length, 1, JSON.stringify(details));
  return entries[0]!;
}

describe('edge config v2 validation (§3)', () => {
  it('accepts the minimal example and unknown extra keys (the node is authoritative)', () => {
    assert.equal(validateEdgeConfig(minimal()), null);
    const extended = { ...minimal(), cellular_uplinks: [{ any: 'thing' }] } as AppConfig;
    (extended.flows![0] as Record<string, unknown>).recording = { enabled: true };
    assert.equal(validateEdgeConfig(extended), null);
  });

  it('names each violated rule once', () => {
    const cases: Array<[string, (config: any) => void, string, RegExp]> = [
      ['version 1', (c) => (c.version = 1), 'version', /./],
      ['no server', (c) => delete c.server, 'server', /required/],
      ['flow id empty', (c) => (c.flows[0].id = ''), 'flows/0/id', /fewer than 1/],
      ['flow id 65 chars', (c) => (c.flows[0].id = 'x'.repeat(65)), 'flows/0/id', /more than 64/],
      ['flow name 257 chars', (c) => (c.flows[0].name = 'n'.repeat(257)), 'flows/0/name', /more than 256/],
      ['unknown input', (c) => (c.flows[0].input_ids = ['nope']), 'flows/0/input_ids', /unknown input nope/],
      ['unknown output', (c) => (c.flows[0].output_ids = ['gone']), 'flows/0/output_ids', /unknown output gone/],
      [
        'two active inputs',
        (c) => {
          c.inputs.push({ id: 'in2', name: 'Backup', type: 'udp', bind_addr: '0.0.0.0:9001' });
          c.flows[0].input_ids = ['in1', 'in2'];
        },
        'flows/0/input_ids',
        /at most one may be active/,
      ],
      ['SRT without mode', (c) => delete c.inputs[0].mode, 'inputs/0/mode', /caller, listener or rendezvous/],
      ['SRT listener without local_addr', (c) => delete c.inputs[0].local_addr, 'inputs/0/local_addr', /required in listener mode/],
      [
        'SRT caller without remote_addr',
        (c) => {
          c.inputs[0].mode = 'caller';
          delete c.inputs[0].local_addr;
        },
        'inputs/0/remote_addr',
        /required in caller mode/,
      ],
      ['SRT passphrase too short', (c) => (c.inputs[0].passphrase = 'short'), 'inputs/0/passphrase', /10 to 79/],
      ['SRT aes_key_len', (c) => (c.inputs[0].aes_key_len = 20), 'inputs/0/aes_key_len', /16, 24 or 32/],
      ['SRT gcm with 24', (c) => Object.assign(c.inputs[0], { aes_key_len: 24, crypto_mode: 'aes-gcm' }), 'inputs/0/crypto_mode', /aes_key_len 24/],
      ['SRT stream_id over 512', (c) => (c.inputs[0].stream_id = 's'.repeat(513)), 'inputs/0/stream_id', /512/],
      [
        'SRT packet_filter in rendezvous',
        (c) => Object.assign(c.inputs[0], { mode: 'rendezvous', remote_addr: '10.0.0.1:9000', packet_filter: 'fec' }),
        'inputs/0/packet_filter',
        /rendezvous/,
      ],
      ['SRT max_rexmit_bw below -1', (c) => (c.inputs[0].max_rexmit_bw = -2), 'inputs/0/max_rexmit_bw', /at least -1/],
      [
        'SRT external_address on a caller',
        (c) => Object.assign(c.inputs[0], { mode: 'caller', remote_addr: '10.0.0.1:9000', local_addr: undefined, external_address: '1.2.3.4' }),
        'inputs/0/external_address',
        /listener/,
      ],
      ['UDP out without dest_addr', (c) => delete c.outputs[0].dest_addr, 'outputs/0/dest_addr', /required/],
      ['dscp 64', (c) => (c.outputs[0].dscp = 64), 'outputs/0/dscp', /63/],
      ['address without port', (c) => (c.outputs[0].dest_addr = '239.1.1.1'), 'outputs/0/dest_addr', /ip:port/],
      ['address with a host name', (c) => (c.inputs[0].local_addr = 'example.com:9000'), 'inputs/0/local_addr', /ip:port/],
      ['port over 65535', (c) => (c.inputs[0].local_addr = '0.0.0.0:65536'), 'inputs/0/local_addr', /ip:port/],
      ['UDP in without bind_addr', (c) => c.inputs.push({ id: 'in2', name: 'U', type: 'udp', active: false }), 'inputs/1/bind_addr', /required/],
      ['RTP out without dest_addr', (c) => c.outputs.push({ type: 'rtp', id: 'o2', name: 'R' }), 'outputs/1/dest_addr', /required/],
      [
        'RTMP out without stream_key',
        (c) => c.outputs.push({ type: 'rtmp', id: 'o2', name: 'R', dest_url: 'rtmp://x/live' }),
        'outputs/1/stream_key',
        /required/,
      ],
      [
        'interface of another family',
        (c) => c.inputs.push({ id: 'in2', name: 'U', type: 'udp', active: false, bind_addr: '239.0.0.1:6000', interface_addr: '::1' }),
        'inputs/1/interface_addr',
        /address family/,
      ],
      [
        'duplicate local port',
        (c) => c.inputs.push({ id: 'in2', name: 'U', type: 'udp', active: false, bind_addr: '10.0.0.5:9000' }),
        'inputs/1/bind_addr',
        /local port 9000, already bound by inputs\/0\/local_addr/,
      ],
      ['duplicate input id', (c) => c.inputs.push({ ...c.inputs[0], active: false, local_addr: '0.0.0.0:9100' }), 'inputs/1/id', /duplicates/],
      ['unknown input type', (c) => (c.inputs[0].type = 'carrier_pigeon'), 'inputs/0/type', /./],
      ['thumbnail interval 61', (c) => (c.flows[0].thumbnail_interval_secs = 61), 'flows/0/thumbnail_interval_secs', /60/],
    ];
    for (const [name, change, path, message] of cases) {
      const [field, messages] = violation(change);
      assert.equal(field, path, name);
      assert.match(messages.join('; '), message, name);
    }
  });

  it('an inactive second input and binds on different IPs of one port are fine; IPv6 addresses parse', () => {
    const config = minimal() as any;
    config.inputs.push({ id: 'in2', name: 'Backup', type: 'udp', active: false, bind_addr: '[::]:9002' });
    config.inputs.push({ id: 'in3', name: 'Mcast A', type: 'rtp', active: false, bind_addr: '239.1.1.1:5004' });
    config.inputs.push({ id: 'in4', name: 'Mcast B', type: 'rtp', active: false, bind_addr: '239.1.1.2:5004', interface_addr: '10.0.0.1' });
    config.flows[0].input_ids = ['in1', 'in2', 'in3', 'in4'];
    assert.equal(validateEdgeConfig(config), null);
  });

  it('never throws on hostile values', () => {
    for (const value of [null, 'x', [], { version: 2, server: null }, { version: 2, server: { listen_addr: '', listen_port: 1 }, flows: 'no' }])
      assert.ok(validateEdgeConfig(value));
  });
});

describe('edge flow commands (§2.2)', () => {
  const ok = (outcome: ReturnType<typeof applyEdgeCommand>): AppConfig => {
    assert.ok(outcome.ok, JSON.stringify(outcome));
    return outcome.config;
  };
  const fails = (outcome: ReturnType<typeof applyEdgeCommand>, code: string, message: RegExp) => {
    assert.equal(outcome.ok, false);
    if (!outcome.ok) {
      assert.equal(outcome.error_code, code);
      assert.match(outcome.error, message);
    }
  };

  it('create, stop, start, add and remove an output, delete: the config follows and the input is untouched', () => {
    const start = minimal();
    const second = { id: 'f2', name: 'Second', input_ids: ['in1'], output_ids: [] };
    let config = ok(applyEdgeCommand(start, { type: 'create_flow', flow: second }));
    assert.deepEqual(
      config.flows!.map((f) => f.id),
      ['f1', 'f2'],
    );
    assert.equal(start.flows!.length, 1, 'the cached config is not modified');

    config = ok(applyEdgeCommand(config, { type: 'stop_flow', flow_id: 'f2' }));
    assert.equal(config.flows![1]!.enabled, false);
    config = ok(applyEdgeCommand(config, { type: 'restart_flow', flow_id: 'f2' }));
    assert.equal(config.flows![1]!.enabled, true);
    config = ok(applyEdgeCommand(config, { type: 'stop_flow', flow_id: 'f2' }));
    config = ok(applyEdgeCommand(config, { type: 'start_flow', flow_id: 'f2' }));
    assert.equal(config.flows![1]!.enabled, true);

    const output = { type: 'srt', id: 'out2', name: 'SRT out', mode: 'caller', remote_addr: '203.0.113.9:9000' };
    config = ok(applyEdgeCommand(config, { type: 'add_output', flow_id: 'f2', output }));
    assert.deepEqual(config.flows![1]!.output_ids, ['out2']);
    assert.deepEqual(
      config.outputs!.map((o) => o.id),
      ['out1', 'out2'],
    );

    // out1 stays while f1 still references it; out2 goes with its last reference.
    config = ok(applyEdgeCommand(config, { type: 'remove_output', flow_id: 'f2', output_id: 'out2' }));
    assert.deepEqual(
      config.outputs!.map((o) => o.id),
      ['out1'],
    );
    config = ok(applyEdgeCommand(config, { type: 'update_flow', flow: { ...second, name: 'Renamed', output_ids: ['out1'] } }));
    assert.equal(config.flows![1]!.name, 'Renamed');
    config = ok(applyEdgeCommand(config, { type: 'remove_output', flow_id: 'f2', output_id: 'out1' }));
    assert.deepEqual(
      config.outputs!.map((o) => o.id),
      ['out1'],
    );

    config = ok(applyEdgeCommand(config, { type: 'delete_flow', flow_id: 'f2' }));
    assert.deepEqual(
      config.flows!.map((f) => f.id),
      ['f1'],
    );
    assert.deepEqual(config.inputs, start.inputs);
  });

  it('refuses what a real edge refuses, with its error codes', () => {
    const config = minimal();
    fails(applyEdgeCommand(config, { type: 'create_flow', flow: { id: 'f1', name: 'Again' } }), 'validation_error', /already exists/);
    fails(applyEdgeCommand(config, { type: 'create_flow', flow: { id: 'f9', name: 'X', input_ids: ['ghost'] } }), 'validation_error', /unknown input ghost/);
    fails(applyEdgeCommand(config, { type: 'create_flow', flow: { id: '', name: 'X' } }), 'validation_error', /flow\/id/);
    fails(applyEdgeCommand(config, { type: 'create_flow' }), 'missing_field', /flow/);
    fails(applyEdgeCommand(config, { type: 'update_flow', flow_id: 'nope', flow: { id: 'nope', name: 'X' } }), 'unknown_flow', /nope/);
    fails(applyEdgeCommand(config, { type: 'delete_flow', flow_id: 'nope' }), 'unknown_flow', /nope/);
    fails(applyEdgeCommand(config, { type: 'start_flow' }), 'missing_field', /flow_id/);
    fails(
      applyEdgeCommand(config, { type: 'add_output', flow_id: 'f1', output: { type: 'udp', id: 'out1', name: 'Dup', dest_addr: '10.0.0.1:1' } }),
      'validation_error',
      /already exists/,
    );
    fails(
      applyEdgeCommand(config, { type: 'add_output', flow_id: 'f1', output: { type: 'udp', id: 'o3', name: 'X', dscp: 99, dest_addr: '10.0.0.1:1' } }),
      'validation_error',
      /output\/dscp/,
    );
    fails(applyEdgeCommand(config, { type: 'remove_output', flow_id: 'f1', output_id: 'zzz' }), 'validation_error', /not part of flow/);
    fails(applyEdgeCommand(config, { type: 'remove_output', flow_id: 'f1' }), 'missing_field', /output_id/);
    fails(applyEdgeCommand(config, { type: 'reboot' }), 'unknown_action', /Unknown command: reboot/);
  });

  it('update_config replaces the config and keeps node-local keys it omits', () => {
    const current = { ...minimal(), device_name: 'studio-a', logging: { level: 'debug' } } as AppConfig;
    const next = { ...minimal(), flows: [] } as AppConfig;
    const config = ok(applyEdgeCommand(current, { type: 'update_config', config: next }));
    assert.deepEqual(config.flows, []);
    assert.equal(config.device_name, 'studio-a');
    assert.deepEqual(config.logging, { level: 'debug' });
    fails(applyEdgeCommand(current, { type: 'update_config', config: { ...next, version: 1 } }), 'validation_error', /version/);
  });
});

describe('endpointsOf', () => {
  it('lists every address of every flow, inputs then outputs', () => {
    const config = minimal();
    config.flows!.push({ id: 'f2', name: 'Off', enabled: false, input_ids: [], output_ids: ['out1'] });
    assert.deepEqual(endpointsOf(config), [
      {
        flow_id: 'f1',
        flow_name: 'Main',
        flow_enabled: true,
        side: 'input',
        id: 'in1',
        name: 'SRT in',
        type: 'srt',
        mode: 'listener',
        field: 'local_addr',
        address: '0.0.0.0:9000',
      },
      {
        flow_id: 'f1',
        flow_name: 'Main',
        flow_enabled: true,
        side: 'output',
        id: 'out1',
        name: 'UDP out',
        type: 'udp',
        mode: null,
        field: 'dest_addr',
        address: '239.1.1.1:5000',
      },
      {
        flow_id: 'f2',
        flow_name: 'Off',
        flow_enabled: false,
        side: 'output',
        id: 'out1',
        name: 'UDP out',
        type: 'udp',
        mode: null,
        field: 'dest_addr',
        address: '239.1.1.1:5000',
      },
    ]);
    assert.deepEqual(endpointsOf({ version: 2, server: { listen_addr: '0.0.0.0', listen_port: 1 }, flows: 'x' } as unknown as AppConfig), []);
  });
});
