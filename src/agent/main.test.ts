import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FakeControlPlane } from './testing/fake-control-plane.ts';

const BIN = fileURLToPath(new URL('../../bin/nodeplane.mjs', import.meta.url));
const dirs: string[] = [];
const planes: FakeControlPlane[] = [];
after(async () => {
  await Promise.all(planes.map((p) => p.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'agent', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function waitFor(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const kill = (child: ChildProcess) => {
  if (child.exitCode === null) child.kill('SIGKILL');
};

describe('nodeplane agent (process)', () => {
  it('prints usage for --help and exits 0', async () => {
    const { exited, out } = run(['--help']);
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(out(), /usage: nodeplane agent/);
    assert.match(out(), /--enrollment-key/);
    assert.match(out(), /NODEPLANE_AGENT_SSH_PORT/);
    assert.ok(!out().includes('44000'), 'the agent API port is only reported, never opened: not in the help');
  });

  it('refuses an unknown flag with exit 2 and says which, before doing anything', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-main-'));
    dirs.push(dir);
    const { exited, out, err } = run(['--server', 'http://127.0.0.1:9', '--ssh-port', '22'], { NODEPLANE_AGENT_DATA_DIR: dir });
    const [code] = await exited;
    assert.equal(code, 2);
    assert.match(err(), /Unknown option '--ssh-port'/);
    assert.equal(out(), '', 'no agent started');
  });

  it('exits non-zero with the reason when the key is rejected', async () => {
    const cp = new FakeControlPlane();
    planes.push(cp);
    await cp.listen();
    const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-main-'));
    dirs.push(dir);
    const spent = cp.issueKey('prod', 0);
    const { exited, err } = run(['--enrollment-key', spent], { NODEPLANE_AGENT_DATA_DIR: dir, NODEPLANE_AGENT_NODE_ID: randomUUID() });
    const [code] = await exited;
    assert.equal(code, 1);
    assert.match(err(), /enrollment key rejected .*key_spent/);
  });

  it('registers, logs JSON lines, and exits 0 soon after SIGTERM', async () => {
    const cp = new FakeControlPlane();
    planes.push(cp);
    await cp.listen();
    const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-main-'));
    dirs.push(dir);
    const nodeId = randomUUID();
    const { child, exited, out } = run(['--enrollment-key', cp.issueKey()], { NODEPLANE_AGENT_DATA_DIR: dir, NODEPLANE_AGENT_NODE_ID: nodeId });
    try {
      await waitFor(() => cp.sockets.length === 1 && cp.pushes.length >= 2, 'registration, stream and first metrics push');
      const serverSawClose = once(cp.sockets[0]!.ws, 'close');
      const started = Date.now();
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
      const [closeCode] = (await serverSawClose) as [number];
      assert.equal(closeCode, 1000);
      const lines = out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; level: number });
      assert.ok(lines.some((l) => l.msg === 'registered'));
      assert.ok(lines.some((l) => l.msg === 'agent stopped'));
    } finally {
      kill(child);
    }
  });
});
