/**
 * `nodeplane agent --core-server … --code …` as a real process, with a real v2ray core and real
 * traffic, against the fake Core server: the agent is SIGKILLed while the server is handling its
 * usage push, traffic keeps flowing through the core it left behind, and the restarted agent
 * delivers everything exactly once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
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

const BIN = fileURLToPath(new URL('../../../bin/nodeplane.mjs', import.meta.url));

function runAgent(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'agent', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, out: () => out };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('nodeplane agent, Core role (process)', { skip: SKIP_NO_V2RAY }, () => {
  const alice = randomUUID();
  const procs: V2rayProcess[] = [];
  const children: ChildProcess[] = [];
  let bytes: ByteServer;
  let server: FakeCoreServer;
  let dir: string;
  let vmessPort: number;
  let socks: number;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'np-core-proc-'));
    vmessPort = await freePort();
    socks = await freePort();
    procs.push(await startV2ray(clientConfig(socks, vmessOutbound(vmessPort, alice)), [socks]));
    bytes = await startByteServer();
    server = new FakeCoreServer();
    await server.listen();
    server.codes.add('reg-code');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.stop()));
    await bytes?.close();
    await server?.close();
    // A core left behind by a failed run must not outlive the test.
    try {
      const pid = JSON.parse(readFileSync(path.join(dir, 'core', 'core.pid.json'), 'utf8')).pid;
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // none
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('documents the Core role in --help', async () => {
    const { exited, out } = runAgent(['--help'], {});
    assert.equal((await exited)[0], 0);
    assert.match(out(), /--core-server/);
    assert.match(out(), /NODEPLANE_CORE_FLAVOUR/);
  });

  it('loses and doubles nothing when killed in the middle of a usage push', async () => {
    server.setConfig({
      clientMap: { [alice]: { userId: 7, subscriptionId: 70 } },
      services: {
        xray: {
          inbounds: [{ tag: 'np-3', listen: '127.0.0.1', port: vmessPort, protocol: 'vmess', settings: { clients: [{ id: alice, email: `${alice}@np-3` }] } }],
          outbounds: [{ tag: 'direct', protocol: 'freedom' }],
        },
      },
    });
    const env = {
      NODEPLANE_AGENT_DATA_DIR: dir,
      NODEPLANE_CORE_FLAVOUR: 'v2ray',
      NODEPLANE_CORE_BINARY: V2RAY_BINARY,
      NODEPLANE_CORE_NODE_IP: '127.0.0.1',
      NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS: '200',
      NODEPLANE_CORE_STATS_INTERVAL_MS: '200',
      NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS: '500',
    };
    const args = ['--core-server', server.url, '--code', 'reg-code'];
    const first = runAgent(args, env);
    children.push(first.child);
    await waitFor(() => server.on('/node/config/applied').length > 0, `the first agent to apply (output: ${first.out()})`, 30_000);

    let moved = { up: 0, down: 0 };
    const move = async (n: number) => {
      const r = await socksHttp(socks, bytes.port, 'GET', `/bytes/${n}`);
      moved = { up: moved.up + r.sent, down: moved.down + r.received };
    };
    // The server takes the first usage push, but the agent dies before hearing the answer.
    let release!: () => void;
    server.inject('/node/usage', { hold: new Promise<void>((r) => (release = r)), then: 'answer' });
    await move(200_000);
    await waitFor(() => server.on('/node/usage').length > 0, 'a usage push', 15_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const heldKey = server.on('/node/usage')[0]!.idempotencyKey;
    release();
    await waitFor(() => server.counted.some((r) => r.idempotencyKey === heldKey), 'the server to store the held push');

    // The core outlives the agent and keeps serving (and counting) meanwhile.
    const corePid = JSON.parse(readFileSync(path.join(dir, 'core', 'core.pid.json'), 'utf8')).pid as number;
    assert.equal(alive(corePid), true);
    await move(150_000);

    const second = runAgent(['--core-server', server.url], env);
    children.push(second.child);
    await waitFor(() => server.usageByUser().get(7)?.down === moved.down, `all usage counted (output: ${second.out()})`, 30_000);
    assert.deepEqual(server.usageByUser().get(7), moved, 'recorded = bytes moved, exactly');
    const sameKey = server.on('/node/usage').filter((r) => r.idempotencyKey === heldKey);
    assert.equal(sameKey.length, 2, 'the interrupted push was sent again with its key');
    assert.equal(server.counted.filter((r) => r.idempotencyKey === heldKey).length, 1, 'and counted once');
    assert.equal(server.on('/node/register').length, 1, 'the key survived the kill');
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'core', 'core.pid.json'), 'utf8')).pid, corePid, 'the core was adopted, not restarted');

    second.child.kill('SIGTERM');
    const [code] = await second.exited;
    assert.equal(code, 0);
    assert.equal(alive(corePid), false, 'a stopped agent stops its core');
  });
});
