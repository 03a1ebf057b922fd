import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FakeControlPlane } from '../testing/fake-control-plane.ts';
import { agentConfig, controlPlane, delay, startAgent, tempDir, waitFor } from '../testing/feature-test-support.ts';
import { type RestartPlan, SelfUpdater, selfUpdatePath } from './self-update.ts';

async function setup(env: Record<string, string>, prepare?: (cp: FakeControlPlane, dir: string) => Promise<void> | void) {
  const cp = await controlPlane();
  const dir = await tempDir();
  const nodeId = randomUUID();
  await prepare?.(cp, dir);
  const restarts: RestartPlan[] = [];
  const updater = new SelfUpdater({ restart: (plan) => void restarts.push(plan) });
  const started = startAgent(agentConfig(cp, dir, nodeId, env), [updater]);
  await waitFor(() => started.agent.registration?.api_token != null, 'registration');
  return { cp, dir, nodeId, restarts, ...started };
}

const connected = (cp: FakeControlPlane, nodeId: string) =>
  waitFor(() => cp.sockets.some((s) => s.nodeId === nodeId && s.ws.readyState === s.ws.OPEN), 'stream connected');

const framesOf = (cp: FakeControlPlane, type: string) => cp.streamFrames.map((f) => f.frame as Record<string, unknown>).filter((f) => f.type === type);

const exists = async (file: string) => (await stat(file).catch(() => null)) !== null;

describe('self-update', () => {
  it('refuses when self-update is disabled, and runs nothing', async () => {
    const marker = path.join(await tempDir(), 'ran');
    const { cp, nodeId, dir, restarts } = await setup({ NODEPLANE_AGENT_UPDATE_COMMAND: `touch ${marker}` });
    await connected(cp, nodeId);
    cp.pushSelfUpdate(nodeId, 'req-1');
    await waitFor(() => framesOf(cp, 'self_update_ack').length === 1, 'the ack');
    const [ack] = framesOf(cp, 'self_update_ack');
    assert.equal(ack!.self_update_request_id, 'req-1');
    assert.equal(ack!.accepted, false);
    assert.match(ack!.reason as string, /disabled/);
    await delay(200);
    assert.equal(framesOf(cp, 'self_update_result').length, 0);
    assert.equal(restarts.length, 0);
    assert.equal(await exists(marker), false);
    assert.equal(await exists(selfUpdatePath(dir)), false);
  });

  it('refuses when enabled but no update command is configured', async () => {
    const { cp, nodeId } = await setup({ NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'true' });
    await connected(cp, nodeId);
    cp.pushSelfUpdate(nodeId, 'req-1');
    await waitFor(() => framesOf(cp, 'self_update_ack').length === 1, 'the ack');
    assert.equal(framesOf(cp, 'self_update_ack')[0]!.accepted, false);
    assert.match(framesOf(cp, 'self_update_ack')[0]!.reason as string, /no update command/);
  });

  it('runs the configured update command, sends self_update_result, records the request and re-executes', async () => {
    const insertedAt = '2026-03-01T10:00:00Z';
    const dir0 = await tempDir();
    const marker = path.join(dir0, 'installed');
    const { cp, nodeId, dir, restarts } = await setup(
      { NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'true', NODEPLANE_AGENT_UPDATE_COMMAND: `echo v2 > ${marker}; echo installed v2` },
      (cp) => {
        cp.selfUpdateCheck = { including_me: true, inserted_at: insertedAt };
      },
    );
    await connected(cp, nodeId);
    cp.pushSelfUpdate(nodeId, 'req-9');
    await waitFor(() => restarts.length === 1, 'the restart');
    assert.deepEqual(framesOf(cp, 'self_update_ack'), [{ type: 'self_update_ack', self_update_request_id: 'req-9', accepted: true }]);
    assert.deepEqual(framesOf(cp, 'self_update_result'), [
      { type: 'self_update_result', self_update_request_id: 'req-9', status: 'succeeded', exit_code: 0, output: 'installed v2\n' },
    ]);
    assert.equal(await readFile(marker, 'utf8'), 'v2\n');
    // The successor is this very process again: same node binary, flags and arguments.
    assert.equal(restarts[0]!.execPath, process.execPath);
    assert.deepEqual(restarts[0]!.args, [...process.execArgv, ...process.argv.slice(1)]);
    const record = JSON.parse(await readFile(selfUpdatePath(dir), 'utf8'));
    assert.equal(record.last_applied_inserted_at, insertedAt);
    assert.equal(record.last_request_id, 'req-9');
    assert.equal((await stat(selfUpdatePath(dir))).mode & 0o777, 0o600);

    // Once restarting, a further request is turned down rather than run a second time.
    cp.pushSelfUpdate(nodeId, 'req-10');
    await waitFor(() => framesOf(cp, 'self_update_ack').length === 2, 'the second ack');
    assert.equal(framesOf(cp, 'self_update_ack')[1]!.accepted, false);
  });

  it('reports a failed update command and does not restart', async () => {
    const { cp, nodeId, dir, restarts } = await setup({
      NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'true',
      NODEPLANE_AGENT_UPDATE_COMMAND: 'echo no mirror reachable >&2; exit 4',
    });
    await connected(cp, nodeId);
    cp.pushSelfUpdate(nodeId, 'req-1');
    await waitFor(() => framesOf(cp, 'self_update_result').length === 1, 'the result');
    assert.deepEqual(framesOf(cp, 'self_update_result')[0], {
      type: 'self_update_result',
      self_update_request_id: 'req-1',
      status: 'failed',
      exit_code: 4,
      output: 'no mirror reachable\n',
    });
    await delay(100);
    assert.equal(restarts.length, 0);
    assert.equal(await exists(selfUpdatePath(dir)), false);
  });

  describe('HTTP check while the stream is down', () => {
    const env = (marker: string) => ({
      NODEPLANE_AGENT_SELF_UPDATE_ENABLED: 'true',
      NODEPLANE_AGENT_UPDATE_COMMAND: `echo run >> ${marker}`,
      NODEPLANE_AGENT_SELF_UPDATE_CHECK_INTERVAL_MS: '100',
    });
    const checks = (cp: FakeControlPlane) => cp.count('GET', '/api/v1/agents/self_updates/check');

    it('applies a request that includes this node and is newer than the last applied one', async () => {
      const markerDir = await tempDir();
      const marker = path.join(markerDir, 'runs');
      const { cp, dir, restarts } = await setup(env(marker), (cp) => {
        cp.streamEnabled = false;
        cp.selfUpdateCheck = { including_me: true, inserted_at: '2026-03-01T10:00:00Z' };
      });
      await waitFor(() => restarts.length === 1, 'the restart');
      assert.equal(await readFile(marker, 'utf8'), 'run\n');
      assert.equal(JSON.parse(await readFile(selfUpdatePath(dir), 'utf8')).last_applied_inserted_at, '2026-03-01T10:00:00Z');
      // The HTTP path has no request id to answer to: no frames at all.
      assert.equal(cp.streamFrames.length, 0);
    });

    it('skips requests already applied or not meant for this node', async () => {
      const markerDir = await tempDir();
      const marker = path.join(markerDir, 'runs');
      const { cp, restarts } = await setup(env(marker), async (cp, dir) => {
        cp.streamEnabled = false;
        cp.selfUpdateCheck = { including_me: true, inserted_at: '2026-03-01T10:00:00Z' };
        await writeFile(
          selfUpdatePath(dir),
          JSON.stringify({ last_applied_inserted_at: '2026-03-01T10:00:00Z', last_request_id: 'r', applied_at: '2026-03-01T10:01:00Z' }),
        );
      });
      await waitFor(() => checks(cp) >= 2, 'two checks');
      cp.selfUpdateCheck = { including_me: false, inserted_at: '2026-03-02T10:00:00Z' };
      const seen = checks(cp);
      await waitFor(() => checks(cp) >= seen + 2, 'two more checks');
      assert.equal(restarts.length, 0);
      assert.equal(await exists(marker), false);

      cp.selfUpdateCheck = { including_me: true, inserted_at: '2026-03-02T10:00:00Z' };
      await waitFor(() => restarts.length === 1, 'the newer request applied');
      assert.equal(await readFile(marker, 'utf8'), 'run\n');
    });

    it('does not check while the stream is up', async () => {
      const markerDir = await tempDir();
      const { cp, nodeId } = await setup(env(path.join(markerDir, 'runs')), (cp) => {
        cp.selfUpdateCheck = { including_me: true, inserted_at: '2026-03-01T10:00:00Z' };
      });
      await connected(cp, nodeId);
      await delay(400);
      assert.equal(checks(cp), 0);
    });
  });

  it('restartProcess: the agent exits through its SIGTERM path and the same command line starts again', async () => {
    const dir = await tempDir();
    const successorFile = path.join(dir, 'successor');
    const exitFile = path.join(dir, 'exited');
    const module = fileURLToPath(new URL('./self-update.ts', import.meta.url));
    // A stand-in for runAgent: a SIGTERM handler that stops cleanly and exits 0.
    const script = `
      import { writeFileSync } from 'node:fs';
      const log = { info() {}, warn() {}, error() {}, debug() {} };
      const { restartProcess } = await import(${JSON.stringify(module)});
      if (process.env.NP_SUCCESSOR) {
        writeFileSync(${JSON.stringify(successorFile)}, process.argv.slice(2).join(' '));
      } else {
        process.once('SIGTERM', () => { writeFileSync(${JSON.stringify(exitFile)}, 'clean stop'); setTimeout(() => process.exit(0), 20); });
        const plan = { execPath: process.execPath, args: [...process.execArgv, ${JSON.stringify(path.join(dir, 'entry.mjs'))}, 'agent', '--data-dir', 'x'], env: { ...process.env, NP_SUCCESSOR: '1' }, cwd: process.cwd() };
        restartProcess(plan, log);
        setInterval(() => {}, 1000);
      }
    `;
    await writeFile(path.join(dir, 'entry.mjs'), script);
    const { INVOCATION_ID: _systemd, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(dir, 'entry.mjs'), 'agent', '--data-dir', 'x'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.equal(await readFile(exitFile, 'utf8'), 'clean stop');
    await waitFor(() => exists(successorFile), 'the successor process');
    assert.equal(await readFile(successorFile, 'utf8'), 'agent --data-dir x');
  });
});
