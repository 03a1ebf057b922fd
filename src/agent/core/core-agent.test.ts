import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { CoreRoleConfig } from '../shared/config.ts';
import { AgentFatalError, CoreAgent } from './core-agent.ts';
import { FakeCoreServer } from '../testing/fake-core-server.ts';
import {
  type ByteServer,
  clientConfig,
  freePort,
  SKIP_NO_V2RAY,
  socksHttp,
  startByteServer,
  startV2ray,
  V2RAY_BINARY,
  type V2rayProcess,
  vmessOutbound,
  waitFor,
} from '../testing/test-support.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-core-agent-'));
  dirs.push(dir);
  return dir;
};

describe('Core role against a fake Core server and a real v2ray', { skip: SKIP_NO_V2RAY }, () => {
  const alice = randomUUID();
  const bob = randomUUID();
  const procs: V2rayProcess[] = [];
  const agents: CoreAgent[] = [];
  // Closed in after() too: a test failing halfway must not leave a listener keeping the run alive.
  const servers: FakeCoreServer[] = [];
  let bytes: ByteServer;
  let vmessPort: number;
  let aliceSocks: number;
  let bobSocks: number;

  before(async () => {
    vmessPort = await freePort();
    aliceSocks = await freePort();
    bobSocks = await freePort();
    procs.push(await startV2ray(clientConfig(aliceSocks, vmessOutbound(vmessPort, alice)), [aliceSocks]));
    procs.push(await startV2ray(clientConfig(bobSocks, vmessOutbound(vmessPort, bob)), [bobSocks]));
    bytes = await startByteServer();
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(procs.map((p) => p.stop()));
    await bytes?.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const services = (users: string[]) => ({
    xray: {
      inbounds: [
        {
          tag: 'np-1',
          listen: '127.0.0.1',
          port: vmessPort,
          protocol: 'vmess',
          settings: { clients: users.map((id) => ({ id, email: `${id}@np-1` })) },
          sniffing: { enabled: true, destOverride: ['http', 'tls', 'quic'] },
        },
      ],
      outbounds: [
        { tag: 'direct', protocol: 'freedom' },
        { tag: 'block', protocol: 'blackhole' },
      ],
      routing: { domainStrategy: 'AsIs', rules: [{ type: 'field', protocol: ['bittorrent'], outboundTag: 'block' }] },
    },
  });
  const clientMap = { [alice]: { userId: 1, subscriptionId: 11 }, [bob]: { userId: 2, subscriptionId: 22 } };

  const roleConfig = (server: FakeCoreServer, over: Partial<CoreRoleConfig> = {}): CoreRoleConfig => ({
    serverUrl: server.url,
    code: 'node-code',
    flavour: 'v2ray',
    binary: V2RAY_BINARY,
    nodeName: 'node-a',
    nodeHost: 'node-a.example',
    nodeIp: '192.0.2.10',
    nodeRegion: 'eu',
    heartbeatIntervalMs: 150,
    statsIntervalMs: 150,
    usagePushIntervalMs: 300,
    offlineAfterMs: 120_000,
    telemtBinary: null,
    ...over,
  });

  async function startAgent(server: FakeCoreServer, dir: string, over: Partial<CoreRoleConfig> = {}) {
    const agent = new CoreAgent(roleConfig(server, over), dir, {
      logger,
      coreBackoff: { initialMs: 200, maxMs: 1_000 },
      pushBackoff: { initialMs: 100, maxMs: 300 },
    });
    agents.push(agent);
    const running = agent.run();
    running.catch(() => {});
    return { agent, running };
  }

  async function newServer() {
    const server = new FakeCoreServer();
    servers.push(server);
    await server.listen();
    server.codes.add('node-code');
    return server;
  }

  const connects = (socksPort: number) =>
    socksHttp(socksPort, bytes.port, 'GET', '/bytes/1000', undefined, 3_000).then(
      (r) => r.status === 200,
      () => false,
    );

  it('registers once, syncs on needSync, applies to the core and reports the revision; a restart reuses the key', async () => {
    const server = await newServer();
    const dir = await tempDir();
    const revision = server.setConfig({ clientMap, services: services([alice]) });
    const { agent } = await startAgent(server, dir);
    await waitFor(() => server.on('/node/config/applied').some((r) => r.body.revision === revision), 'config/applied');

    const register = server.on('/node/register');
    assert.deepEqual(
      register.map((r) => r.body),
      [{ code: 'node-code', name: 'node-a', host: 'node-a.example', ip: '192.0.2.10', region: 'eu' }],
    );
    const state = JSON.parse(await readFile(path.join(dir, 'core', 'state.json'), 'utf8'));
    assert.ok(server.keys.has(state.authKey));
    assert.equal((await stat(path.join(dir, 'core', 'state.json'))).mode & 0o777, 0o600);
    assert.ok(
      server.received.filter((r) => r.route !== '/node/register').every((r) => r.key === state.authKey),
      'x-node-auth-key on every other route',
    );
    assert.deepEqual(server.on('/node/heartbeat')[0]!.body, { ip: '192.0.2.10' }, 'no revision before anything is applied');
    assert.equal(await connects(aliceSocks), true);
    await waitFor(() => server.on('/node/heartbeat').some((r) => r.body.revision === revision), 'a heartbeat with the applied revision');

    await agent.stop();
    assert.equal(await connects(aliceSocks), false, 'the core stops with the agent');
    const appliedBefore = server.on('/node/config/applied').length;
    const { agent: again } = await startAgent(server, dir);
    await waitFor(() => server.on('/node/config/applied').length > appliedBefore, 'the restarted agent re-reporting its revision');
    assert.equal(server.on('/node/register').length, 1, 'the saved key is reused');
    assert.equal(again.appliedRevision, revision);
    assert.equal(await connects(aliceSocks), true, 'the last applied config runs again at start');
    await again.stop();
    await server.close();
  });

  it('adds users at runtime for a new revision, and reports a config the core refuses once (ETag → 304 after)', async () => {
    const server = await newServer();
    const dir = await tempDir();
    server.setConfig({ clientMap, services: services([alice]) });
    const { agent } = await startAgent(server, dir);
    const modes: string[] = [];
    agent.events.on('applied', (_rev, result) => modes.push(result.mode));
    await waitFor(() => modes.length === 1, 'first apply');
    const pid = agent.controller.pid;

    const r2 = server.setConfig({ clientMap, services: services([alice, bob]) });
    await waitFor(() => server.on('/node/config/applied').some((r) => r.body.revision === r2), 'revision with bob applied');
    assert.deepEqual(modes, ['start', 'users']);
    assert.equal(agent.controller.pid, pid);
    assert.equal(await connects(bobSocks), true);

    // Core drops a subscription over its limit from the config: its next connection fails.
    const cut = server.setConfig({ clientMap: { [alice]: clientMap[alice]! }, services: services([alice]) });
    await waitFor(() => server.on('/node/config/applied').some((r) => r.body.revision === cut), 'revision without bob applied');
    assert.equal(await connects(bobSocks), false);
    assert.equal(await connects(aliceSocks), true);
    const r2b = server.setConfig({ clientMap, services: services([alice, bob]) });
    await waitFor(() => server.on('/node/config/applied').some((r) => r.body.revision === r2b), 'bob back');
    assert.deepEqual(modes, ['start', 'users', 'users', 'users']);
    assert.equal(agent.controller.pid, pid);

    const bad = services([alice]);
    (bad.xray.inbounds[0] as Record<string, unknown>).streamSettings = {
      network: 'tcp',
      security: 'tls',
      tlsSettings: { certificates: [{ certificateFile: '/missing/cert.pem', keyFile: '/missing/key.pem' }] },
    };
    const r3 = server.setConfig({ clientMap, services: bad });
    await waitFor(() => server.on('/node/error').length === 1, '/node/error');
    const report = server.on('/node/error')[0]!.body;
    assert.equal(report.code, 'CORE_CONFIG_INVALID');
    assert.equal(report.details.revision, r3);
    assert.match(report.message + report.details.output, /missing/);
    const fetches = server.on('/node/config/latest').length;
    await waitFor(() => server.on('/node/config/latest').length >= fetches + 3, 'more syncs');
    const later = server.on('/node/config/latest').slice(fetches);
    assert.ok(
      later.every((r) => r.ifNoneMatch !== null && r.status === 304),
      'later syncs revalidate with the ETag and get 304',
    );
    assert.equal(server.on('/node/error').length, 1, 'a refused revision is reported once, not at every heartbeat');
    assert.equal(agent.appliedRevision, r2b, 'the running config stays');
    assert.equal(await connects(bobSocks), true);
    await agent.stop();
    await server.close();
  });

  it('reports a killed core and, once it runs again, the applied revision', async () => {
    const server = await newServer();
    const dir = await tempDir();
    const revision = server.setConfig({ clientMap, services: services([alice]) });
    const { agent } = await startAgent(server, dir);
    await waitFor(() => server.on('/node/config/applied').length > 0, 'applied');
    const applied = server.on('/node/config/applied').length;
    process.kill(agent.controller.pid!, 'SIGKILL');
    await waitFor(() => server.on('/node/error').length > 0, 'the crash report');
    const crash = server.on('/node/error')[0]!.body;
    assert.equal(crash.code, 'CORE_EXITED');
    assert.equal(crash.details.signal, 'SIGKILL');
    await waitFor(() => server.on('/node/config/applied').length > applied, 'applied again after the restart');
    assert.equal(server.on('/node/config/applied').at(-1)!.body.revision, revision);
    assert.equal(await connects(aliceSocks), true);
    await agent.stop();
    await server.close();
  });

  it('pushes usage attributed through the clientMap, with an Idempotency-Key per request', async () => {
    const server = await newServer();
    const dir = await tempDir();
    server.setConfig({ clientMap, services: services([alice, bob]) });
    const { agent } = await startAgent(server, dir);
    await waitFor(() => server.on('/node/config/applied').length > 0, 'applied');
    const a = await socksHttp(aliceSocks, bytes.port, 'GET', '/bytes/123456');
    const b = await socksHttp(bobSocks, bytes.port, 'POST', '/up', Buffer.alloc(54321));
    await waitFor(() => server.usageByUser().get(1)?.down === a.received && server.usageByUser().get(2)?.up === b.sent, 'usage for both users', 10_000);
    assert.deepEqual(server.usageByUser().get(1), { up: a.sent, down: a.received });
    assert.deepEqual(server.usageByUser().get(2), { up: b.sent, down: b.received });
    const pushes = server.received.filter((r) => r.route === '/node/usage');
    assert.ok(pushes.every((r) => typeof r.idempotencyKey === 'string' && r.idempotencyKey.length >= 32));
    await waitFor(() => server.on('/node/session-events').length > 0, 'session events');
    const events = server.on('/node/session-events').flatMap((r) => r.body.events);
    assert.deepEqual(
      events
        .filter((e: { eventType: string }) => e.eventType === 'online')
        .map((e: { userId: number; protocol: string }) => [e.userId, e.protocol])
        .sort(),
      [
        [1, 'vmess'],
        [2, 'vmess'],
      ],
    );
    assert.ok(server.on('/node/outbound-usage').some((r) => r.body.items.some((i: { tag: string }) => i.tag === 'direct')));
    await agent.stop();
    await server.close();
  });

  it('on a 401 registers again with the configured code, and without one exits with the reason', async () => {
    const server = await newServer();
    server.setConfig({ clientMap, services: services([alice]) });
    const { agent } = await startAgent(server, await tempDir());
    await waitFor(() => server.on('/node/config/applied').length > 0, 'applied');
    server.revokeAllKeys();
    await waitFor(() => server.on('/node/register').length === 2, 'a second registration');
    await waitFor(() => server.received.at(-1)!.key !== null && server.keys.has(server.received.at(-1)!.key!), 'calls with the new key');
    await agent.stop();

    const dir = await tempDir();
    const { agent: first } = await startAgent(server, dir);
    await waitFor(() => first.nodeId !== null, 'registered');
    await first.stop();
    const { running } = await startAgent(server, dir, { code: null });
    await waitFor(() => server.received.at(-1)?.route === '/node/heartbeat', 'a heartbeat with the saved key');
    server.revokeAllKeys();
    await assert.rejects(running, (e: Error) => e instanceof AgentFatalError && /401/.test(e.message) && /--code/.test(e.message));
    await server.close();
  });

  it('refuses to start without a registration or a code, and on a registration the server refuses', async () => {
    const server = await newServer();
    const { running } = await startAgent(server, await tempDir(), { code: null });
    await assert.rejects(running, /not registered.*--code/);
    const { running: wrong } = await startAgent(server, await tempDir(), { code: 'nope' });
    await assert.rejects(wrong, (e: Error) => e instanceof AgentFatalError && /404 Registration code not found/.test(e.message));
    await server.close();
  });
});
