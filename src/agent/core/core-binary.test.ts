/**
 * Which core the agent drives: the flavour comes from the binary's `-version` unless the operator
 * set it, and a missing binary is reported as exactly that (not as a config the core refused).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { CoreRoleConfig } from '../shared/config.ts';
import { assertCoreBinary, CoreBinaryError, detectCoreFlavour, parseCoreVersion } from '../proxy-core/core-binary.ts';
import { CoreAgent } from './core-agent.ts';
import { FakeCoreServer } from '../testing/fake-core-server.ts';
import { freePort, SKIP_NO_V2RAY, V2RAY_BINARY, waitFor } from '../testing/test-support.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('core binary and flavour', () => {
  const dirs: string[] = [];
  const agents: CoreAgent[] = [];
  const servers: FakeCoreServer[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  async function agentFor(binary: string, flavour: CoreRoleConfig['flavour']) {
    const server = new FakeCoreServer();
    servers.push(server);
    await server.listen();
    server.codes.add('code');
    const port = await freePort();
    const id = randomUUID();
    const revision = server.setConfig({
      clientMap: { [id]: { userId: 1, subscriptionId: 1 } },
      services: {
        xray: {
          inbounds: [{ tag: 'np-1', listen: '127.0.0.1', port, protocol: 'vmess', settings: { clients: [{ id, email: `${id}@np-1` }] } }],
          outbounds: [{ tag: 'direct', protocol: 'freedom' }],
        },
      },
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'np-core-binary-'));
    dirs.push(dir);
    const agent = new CoreAgent(
      {
        serverUrl: server.url,
        code: 'code',
        flavour,
        binary,
        nodeName: 'n',
        nodeHost: 'n.example',
        nodeIp: '192.0.2.1',
        nodeRegion: '',
        heartbeatIntervalMs: 200,
        statsIntervalMs: 200,
        usagePushIntervalMs: 500,
        offlineAfterMs: 120_000,
        telemtBinary: null,
      },
      dir,
      { logger },
    );
    agents.push(agent);
    agent.run().catch(() => {});
    return { server, agent, revision };
  }

  it('reads Xray and V2Ray from their -version lines', () => {
    assert.deepEqual(parseCoreVersion('Xray 1.8.24 (Xray, Penetrates Everything.) 1ec8d6b (go1.22.5 linux/amd64)\nA unified platform'), {
      flavour: 'xray',
      version: '1.8.24',
    });
    assert.deepEqual(parseCoreVersion('V2Ray 4.34.0 (user) 20230518-074445 (go1.19.8 linux/amd64)\n'), { flavour: 'v2ray', version: '4.34.0' });
    assert.equal(parseCoreVersion('sing-box version 1.9.0'), null);
  });

  it('detects the real /usr/bin/v2ray as V2Ray', { skip: SKIP_NO_V2RAY }, async () => {
    assert.deepEqual(await detectCoreFlavour(V2RAY_BINARY), { flavour: 'v2ray', version: '4.34.0' });
  });

  it('says "core binary not found at <path>" for a missing binary', async () => {
    await assert.rejects(
      assertCoreBinary('/nonexistent/bin/xray'),
      (e: Error) => e instanceof CoreBinaryError && e.message === 'core binary not found at /nonexistent/bin/xray',
    );
    await assert.rejects(assertCoreBinary('no-such-core', '/nonexistent:/also-not'), /core binary not found at no-such-core/);
    await assert.rejects(
      detectCoreFlavour('/bin/true'),
      (e: Error) => e instanceof CoreBinaryError && e.code === 'CORE_BINARY_UNKNOWN' && /set --core-flavour/.test(e.message),
      'not a core',
    );
  });

  it('an agent told no flavour detects V2Ray and serves with it', { skip: SKIP_NO_V2RAY }, async () => {
    const { server, agent, revision } = await agentFor(V2RAY_BINARY, null);
    await waitFor(() => server.on('/node/config/applied').some((r) => r.body.revision === revision), 'config applied', 30_000);
    assert.equal(agent.controller.flavour, 'v2ray');
    assert.equal(server.on('/node/error').length, 0);
  });

  it('an agent whose binary is missing reports CORE_BINARY_NOT_FOUND naming the path', async () => {
    const { server, revision } = await agentFor('/nonexistent/bin/xray', null);
    await waitFor(() => server.on('/node/error').length > 0, 'an error report', 30_000);
    const [report] = server.on('/node/error');
    assert.equal(report!.body.code, 'CORE_BINARY_NOT_FOUND');
    assert.equal(report!.body.message, 'core binary not found at /nonexistent/bin/xray');
    assert.equal(report!.body.details.revision, revision);
    assert.equal(server.on('/node/config/applied').length, 0);
  });
});
