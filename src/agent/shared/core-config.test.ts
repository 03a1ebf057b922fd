import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { type AgentConfig, ConfigError, loadAgentConfig } from './config.ts';

const load = (args: string[], env: Record<string, string> = {}): AgentConfig => {
  const config = loadAgentConfig(args, env, '/srv');
  assert.notEqual(config, 'help');
  return config as AgentConfig;
};

describe('agent config: Core role', () => {
  it('is off unless --core-server is given, and the edge settings are unchanged', () => {
    const config = load(['--server', 'http://cp:1']);
    assert.equal(config.core, null);
    assert.equal(config.serverUrl, 'http://cp:1');
  });

  it('has the documented defaults', () => {
    const { core } = load(['--core-server', 'http://core:3000/', '--code', 'abc'], { PATH: '/nonexistent' });
    assert.deepEqual(
      { ...core, nodeIp: undefined },
      {
        serverUrl: 'http://core:3000',
        code: 'abc',
        flavour: null,
        binary: 'xray',
        nodeName: hostname(),
        nodeHost: hostname(),
        nodeIp: undefined,
        nodeRegion: '',
        heartbeatIntervalMs: 15_000,
        statsIntervalMs: 10_000,
        usagePushIntervalMs: 60_000,
        offlineAfterMs: 120_000,
        telemtBinary: null,
      },
    );
    assert.match(core!.nodeIp, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(Object.isFrozen(core));
  });

  it('reads every env setting; flags win', () => {
    const { core } = load(['--core-flavour', 'v2ray'], {
      NODEPLANE_CORE_SERVER_URL: 'https://core.example',
      NODEPLANE_CORE_CODE: 'c1',
      NODEPLANE_CORE_FLAVOUR: 'xray',
      NODEPLANE_CORE_NODE_NAME: 'n',
      NODEPLANE_CORE_NODE_HOST: 'h.example',
      NODEPLANE_CORE_NODE_IP: '192.0.2.1',
      NODEPLANE_CORE_NODE_REGION: 'eu',
      NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS: '1000',
      NODEPLANE_CORE_STATS_INTERVAL_MS: '2000',
      NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS: '3000',
      NODEPLANE_CORE_OFFLINE_AFTER_MS: '4000',
      NODEPLANE_TELEMT_BINARY: '/opt/telemt',
    });
    assert.equal(core!.flavour, 'v2ray');
    assert.equal(core!.binary, '/usr/bin/v2ray', "the v2ray default binary is Debian's");
    assert.deepEqual([core!.nodeName, core!.nodeHost, core!.nodeIp, core!.nodeRegion], ['n', 'h.example', '192.0.2.1', 'eu']);
    assert.deepEqual([core!.heartbeatIntervalMs, core!.statsIntervalMs, core!.usagePushIntervalMs, core!.offlineAfterMs], [1000, 2000, 3000, 4000]);
    assert.equal(core!.telemtBinary, '/opt/telemt');
    assert.equal(load(['--core-server', 'http://c', '--core-binary', '/x/xray']).core!.binary, '/x/xray');
  });

  it('rejects bad values with the setting named', () => {
    assert.throws(
      () => load(['--core-server', 'ftp://x']),
      (e: Error) => e instanceof ConfigError && /--core-server/.test(e.message),
    );
    assert.throws(() => load(['--core-server', 'http://x', '--core-flavour', 'sing-box']), /xray or v2ray/);
    assert.throws(() => load(['--code', 'abc']), /needs --core-server/);
    assert.throws(() => load(['--core-server', 'http://x'], { NODEPLANE_CORE_NODE_IP: 'host.example' }), /NODEPLANE_CORE_NODE_IP/);
    assert.throws(() => load(['--core-server', 'http://x'], { NODEPLANE_CORE_STATS_INTERVAL_MS: '5' }), /NODEPLANE_CORE_STATS_INTERVAL_MS/);
  });
});
