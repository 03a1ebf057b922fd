import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { CoreConfigError, type CoreExited, CoreStartError, type CoreStarted, ProxyCoreController } from './controller.ts';
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
import { API_INBOUND_TAG, type XrayConfig } from './xray-config.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-core-ctl-'));
  dirs.push(dir);
  return dir;
};
/** A zombie (an orphan nobody reaped yet) counts as dead. */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Core's config for a node with one VMess inbound (np-1) serving `users`. */
const nodeConfig = (port: number, users: string[], extra: Partial<XrayConfig> = {}): XrayConfig => ({
  inbounds: [{ tag: 'np-1', listen: '127.0.0.1', port, protocol: 'vmess', settings: { clients: users.map((id) => ({ id, email: `${id}@np-1` })) } }],
  outbounds: [{ tag: 'direct', protocol: 'freedom' }],
  ...extra,
});

describe('ProxyCoreController against a real v2ray', { skip: SKIP_NO_V2RAY }, () => {
  const alice = randomUUID();
  const bob = randomUUID();
  const clients: V2rayProcess[] = [];
  const controllers: ProxyCoreController[] = [];
  let bytes: ByteServer;
  let vmessPort: number;
  let aliceSocks: number;
  let bobSocks: number;

  before(async () => {
    vmessPort = await freePort();
    aliceSocks = await freePort();
    bobSocks = await freePort();
    clients.push(await startV2ray(clientConfig(aliceSocks, vmessOutbound(vmessPort, alice)), [aliceSocks]));
    clients.push(await startV2ray(clientConfig(bobSocks, vmessOutbound(vmessPort, bob)), [bobSocks]));
    bytes = await startByteServer();
  });
  after(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await Promise.all(clients.map((c) => c.stop()));
    await bytes?.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const connects = (socksPort: number) =>
    socksHttp(socksPort, bytes.port, 'GET', '/bytes/1000', undefined, 3_000).then(
      (r) => r.status === 200 && r.body.length === 1000,
      () => false,
    );

  const newController = async (dir?: string) => {
    const c = new ProxyCoreController({
      flavour: 'v2ray',
      binary: V2RAY_BINARY,
      dir: dir ?? (await tempDir()),
      logger,
      backoff: { initialMs: 200, maxMs: 1_000 },
    });
    controllers.push(c);
    return c;
  };

  it('starts the core on the rendered config (0600), then changes users at runtime without a restart', async () => {
    const ctl = await newController();
    const first = await ctl.apply(nodeConfig(vmessPort, [alice]));
    assert.equal(first.mode, 'start');
    const pid = ctl.pid!;
    const file = JSON.parse(await readFile(ctl.configFile, 'utf8'));
    assert.equal(file.inbounds[0].tag, API_INBOUND_TAG);
    assert.equal((await stat(ctl.configFile)).mode & 0o777, 0o600);
    assert.equal(await connects(aliceSocks), true);
    assert.equal(await connects(bobSocks), false);

    assert.equal((await ctl.apply(nodeConfig(vmessPort, [alice]))).mode, 'none');
    const swap = await ctl.apply(nodeConfig(vmessPort, [bob]));
    assert.deepEqual([swap.mode, swap.added, swap.removed], ['users', 1, 1]);
    assert.equal(ctl.pid, pid, 'a users-only change must not restart the core');
    assert.equal(await connects(bobSocks), true);
    assert.equal(await connects(aliceSocks), false);
    // A later crash restart must come back with the current users: the file has them.
    const onDisk = JSON.parse(await readFile(ctl.configFile, 'utf8'));
    assert.deepEqual(
      onDisk.inbounds[1].settings.clients.map((c: { id: string }) => c.id),
      [bob],
    );
    await ctl.stop();
    assert.equal(alive(pid), false);
  });

  it('restarts for a structural change, reading the counters first', async () => {
    const ctl = await newController();
    await ctl.apply(nodeConfig(vmessPort, [alice]));
    const pid = ctl.pid!;
    const reads: string[] = [];
    ctl.setBeforeStop(async (stats) => {
      reads.push(...(await stats.queryStats('user>>>', true)).filter((s) => s.value > 0).map((s) => s.name));
    });
    assert.equal(await connects(aliceSocks), true);
    const result = await ctl.apply(nodeConfig(vmessPort, [alice], { routing: { rules: [{ type: 'field', port: '1-2', outboundTag: 'direct' }] } }));
    assert.equal(result.mode, 'restart');
    assert.notEqual(ctl.pid, pid);
    assert.equal(alive(pid), false);
    assert.ok(reads.includes(`user>>>${alice}@np-1>>>traffic>>>downlink`), `counters read before the stop: ${reads}`);
    assert.equal(await connects(aliceSocks), true);
    await ctl.stop();
  });

  it('keeps the running core when the new config is refused', async () => {
    const ctl = await newController();
    await ctl.apply(nodeConfig(vmessPort, [alice]));
    const pid = ctl.pid!;
    const bad = nodeConfig(vmessPort, [alice]);
    bad.inbounds![0]!.streamSettings = {
      network: 'tcp',
      security: 'tls',
      tlsSettings: { certificates: [{ certificateFile: '/nonexistent.pem', keyFile: '/nonexistent.key' }] },
    };
    await assert.rejects(ctl.apply(bad), (e: CoreConfigError) => e instanceof CoreConfigError && /nonexistent/.test(e.message + e.output));
    assert.equal(ctl.pid, pid);
    assert.equal(await connects(aliceSocks), true);
    await ctl.stop();
  });

  it('rolls back when the new config passes the test but cannot start (port taken)', async () => {
    const ctl = await newController();
    await ctl.apply(nodeConfig(vmessPort, [alice]));
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const next = nodeConfig(vmessPort, [alice]);
      next.inbounds!.push({ tag: 'np-2', listen: '127.0.0.1', port: taken, protocol: 'vmess', settings: { clients: [] } });
      await assert.rejects(ctl.apply(next), (e: Error) => e instanceof CoreStartError);
      assert.ok(ctl.running, 'the previous config runs again');
      assert.equal(await connects(aliceSocks), true);
    } finally {
      blocker.close();
      await ctl.stop();
    }
  });

  it('restarts a SIGKILLed core with backoff and says so', async () => {
    const ctl = await newController();
    await ctl.apply(nodeConfig(vmessPort, [alice]));
    const pid = ctl.pid!;
    const exits: CoreExited[] = [];
    const starts: CoreStarted[] = [];
    ctl.on('exited', (e) => exits.push(e));
    ctl.on('started', (e) => starts.push(e));
    process.kill(pid, 'SIGKILL');
    await waitFor(() => starts.length > 0, 'the core to be restarted');
    assert.equal(exits[0]!.pid, pid);
    assert.equal(exits[0]!.signal, 'SIGKILL');
    assert.equal(starts[0]!.reason, 'crash-restart');
    assert.notEqual(ctl.pid, pid);
    assert.equal(await connects(aliceSocks), true);
    await ctl.stop();
  });

  it('outlives a killed agent: the next agent adopts the same config, or reads and replaces a different one', async () => {
    const dir = await tempDir();
    const config = nodeConfig(vmessPort, [alice]);
    // A first agent in its own process, killed with SIGKILL once its core runs.
    const fixture = fileURLToPath(new URL('../testing/run-controller.fixture.ts', import.meta.url));
    const agent = spawn(process.execPath, ['--import', 'tsx', fixture, dir, V2RAY_BINARY, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    agent.stdout!.on('data', (d) => (out += d));
    await waitFor(() => /^\d+\n/.test(out), 'the first agent to start its core', 30_000);
    const corePid = Number(out.trim());
    agent.kill('SIGKILL');
    await once(agent, 'exit');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(alive(corePid), true, 'the core survives its agent');
    assert.equal(await connects(aliceSocks), true);

    const second = await newController(dir);
    const adopted: CoreStarted[] = [];
    second.on('started', (e) => adopted.push(e));
    await second.start(config);
    assert.equal(second.pid, corePid);
    assert.equal(adopted[0]!.reason, 'adopted');
    // Users change at runtime on the adopted core too.
    assert.equal((await second.apply(nodeConfig(vmessPort, [alice, bob]))).mode, 'users');
    assert.equal(await connects(bobSocks), true);

    // A third agent with another config: the orphan's counters are read, then it is replaced.
    const third = await newController(dir);
    const read: number[] = [];
    third.setBeforeStop(async (stats) => {
      read.push((await stats.queryStats('user>>>', true)).reduce((sum, s) => sum + s.value, 0));
    });
    // Detach the second controller without stopping its core, as a crash would.
    (second as unknown as { core: null }).core = null;
    await third.start(nodeConfig(vmessPort, [bob]));
    assert.ok(read[0]! > 0, 'the orphan counters were read before it was replaced');
    assert.equal(alive(corePid), false);
    assert.notEqual(third.pid, corePid);
    assert.equal(await connects(bobSocks), true);
    await third.stop();
  });
});
