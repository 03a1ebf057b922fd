import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadAgentConfig, packageVersion, UsageError, USAGE, type AgentConfig } from './config.ts';

const key = Buffer.from(JSON.stringify({ admin_urls: ['http://cp.example:8080'], nonce: 'abc' })).toString('base64');

function load(args: string[], env: Record<string, string> = {}): AgentConfig {
  const config = loadAgentConfig(args, env, '/srv');
  assert.notEqual(config, 'help');
  return config as AgentConfig;
}

describe('agent config', () => {
  it('has the documented defaults', () => {
    const config = load(['--server', 'http://cp:1/']);
    assert.equal(config.serverUrl, 'http://cp:1');
    assert.equal(config.dataDir, '/srv/agent-data');
    assert.equal(config.healthIntervalMs, 30_000);
    assert.equal(config.metricsIntervalMs, 60_000);
    assert.equal(config.version, packageVersion());
    assert.deepEqual(config.ports, { http: 44000, ssh: 40022, hostMetrics: 49100, wireguardMetrics: 49586, httpProxy: 43128, socks5Proxy: 41080 });
    assert.equal(config.selfUpdateEnabled, false);
    assert.ok(Object.isFrozen(config));
  });

  it('takes --server from the key when not given, and flags over env', () => {
    const fromKey = load([], { NODEPLANE_ENROLLMENT_KEY: key });
    assert.equal(fromKey.serverUrl, null);
    assert.deepEqual(fromKey.enrollmentAdminUrls, ['http://cp.example:8080']);
    const flagWins = load([`--enrollment-key=${key}`, '--data-dir', 'd'], { NODEPLANE_SERVER_URL: 'http://env:1', NODEPLANE_AGENT_DATA_DIR: '/elsewhere' });
    assert.equal(flagWins.serverUrl, 'http://env:1');
    assert.equal(flagWins.dataDir, '/srv/d');
  });

  it('reads every env setting', () => {
    const config = load([], {
      NODEPLANE_SERVER_URL: 'https://cp',
      NODEPLANE_AGENT_NODE_ID: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE',
      NODEPLANE_AGENT_HEALTH_INTERVAL_MS: '500',
      NODEPLANE_AGENT_METRICS_INTERVAL_MS: '700',
      NODEPLANE_AGENT_VERSION: '9.9.9',
      NODEPLANE_AGENT_HTTP_PORT: '1',
      NODEPLANE_AGENT_SSH_PORT: '2',
      NODEPLANE_AGENT_HOST_METRICS_PORT: '3',
      NODEPLANE_AGENT_WIREGUARD_METRICS_PORT: '4',
      NODEPLANE_AGENT_HTTP_PROXY_PORT: '5',
      NODEPLANE_AGENT_SOCKS5_PORT: '6',
      NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'true',
    });
    assert.equal(config.nodeIdOverride, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    assert.equal(config.healthIntervalMs, 500);
    assert.equal(config.metricsIntervalMs, 700);
    assert.equal(config.version, '9.9.9');
    assert.deepEqual(config.ports, { http: 1, ssh: 2, hostMetrics: 3, wireguardMetrics: 4, httpProxy: 5, socks5Proxy: 6 });
    assert.equal(config.selfUpdateEnabled, true);
  });

  it('reports help and rejects bad input with a precise message', () => {
    assert.equal(loadAgentConfig(['--help'], {}), 'help');
    assert.equal(loadAgentConfig(['-h'], {}), 'help');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--bogus'], {}, /Unknown option '--bogus'/],
      [['--server'], {}, /'--server <value>' argument missing/],
      [['--server', '--data-dir', 'd'], {}, /'--server' argument is ambiguous/],
      [['stray'], {}, /Unexpected argument 'stray'/],
      [['--server', 'ftp://x'], {}, /http\(s\) URL/],
      [['--enrollment-key', 'garbage!'], {}, /not base64/],
      [['--server', 'http://x'], { NODEPLANE_AGENT_HTTP_PORT: '70000' }, /NODEPLANE_AGENT_HTTP_PORT must be an integer between 1 and 65535/],
      [['--server', 'http://x'], { NODEPLANE_AGENT_NODE_ID: 'nope' }, /must be a UUID/],
      [['--server', 'http://x'], { NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'maybe' }, /true or false/],
      [['--server', 'http://x', '--cluster', 'Bad_Name'], {}, /cluster name/],
    ];
    for (const [args, env, message] of cases)
      assert.throws(
        () => loadAgentConfig(args, env),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
      );
  });

  it('tells command-line mistakes (exit 2) apart from bad settings (exit 1)', () => {
    assert.throws(
      () => loadAgentConfig(['--ssh-port', '22'], {}),
      (e: Error) => e instanceof UsageError && e.exitCode === 2,
    );
    assert.throws(
      () => loadAgentConfig(['--server', 'ftp://x'], {}),
      (e: Error) => e instanceof ConfigError && !(e instanceof UsageError),
    );
  });

  it('lists in its help only the port the agent listens on, not the ones it merely reports', () => {
    assert.match(USAGE, /NODEPLANE_AGENT_SSH_PORT .*40022/);
    for (const reported of ['44000', '49100', '49586', '43128', '41080', 'HTTP_PROXY_PORT', 'SOCKS5_PORT', 'HOST_METRICS_PORT']) {
      assert.ok(!USAGE.includes(reported), `help mentions ${reported}`);
    }
  });

  it('lets an undecodable key through when the server is explicit: the server judges it', () => {
    const config = load(['--server', 'http://x', '--enrollment-key', 'opaque-token']);
    assert.equal(config.enrollmentKey, 'opaque-token');
    assert.equal(config.enrollmentAdminUrls, null);
  });
});
