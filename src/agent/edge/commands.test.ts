import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Counter } from 'prom-client';
import { CommandRunner, type CommandRunnerOptions, RESTARTED_EXIT_CODE, RESTARTED_OUTPUT } from './commands.ts';
import { ledgerPath } from './execution-ledger.ts';
import type { FakeControlPlane, FakeExecution } from '../testing/fake-control-plane.ts';
import { agentConfig, controlPlane, delay, startAgent, tempDir, waitFor } from '../testing/feature-test-support.ts';

const FAST: CommandRunnerOptions = { retry: { initialMs: 20, maxMs: 100 }, killGraceMs: 200, stopGraceMs: 200 };

async function setup(
  env: Record<string, string> = {},
  options: CommandRunnerOptions = {},
  prepare?: (cp: FakeControlPlane, nodeId: string, dir: string) => Promise<void> | void,
) {
  const cp = await controlPlane();
  const dir = await tempDir();
  const nodeId = randomUUID();
  await prepare?.(cp, nodeId, dir);
  const runner = new CommandRunner({ ...FAST, ...options });
  const started = startAgent(agentConfig(cp, dir, nodeId, env), [runner]);
  await waitFor(() => started.agent.registration?.api_token != null, 'registration');
  return { cp, dir, nodeId, runner, ...started };
}

const connected = (cp: FakeControlPlane, nodeId: string) =>
  waitFor(() => cp.sockets.some((s) => s.nodeId === nodeId && s.ws.readyState === s.ws.OPEN), 'stream connected');

const results = (cp: FakeControlPlane, id: string) => cp.resultCalls.filter((c) => c.id === id);
const acks = (cp: FakeControlPlane, id: string) => cp.requests.filter((r) => r.path === `/api/v1/agents/command_executions/${id}/acknowledge`);
const settled = (cp: FakeControlPlane, e: FakeExecution, what = 'the result') => waitFor(() => results(cp, e.id).some((c) => c.answer === 200), what);
const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const value = async (counter: Counter) => (await counter.get()).values[0]?.value ?? 0;
/** The entry as on disk; undefined until the ledger's first write. */
const ledgerState = async (dir: string, id: string) => {
  const text = await readFile(ledgerPath(dir), 'utf8').catch(() => '{"executions":[]}');
  return (JSON.parse(text).executions as { id: string; state: string; note?: string }[]).find((e) => e.id === id);
};

describe('command executions', () => {
  it('runs a pushed execution once and reports its output and exit code', async () => {
    const { cp, dir, nodeId, agent } = await setup();
    await connected(cp, nodeId);
    const e = cp.addExecution(nodeId, { command_text: 'echo "hello $((6*7))"; echo oops >&2; exit 3' });
    await settled(cp, e);
    const [call] = results(cp, e.id);
    assert.equal(call!.body.status, 'completed');
    assert.equal(call!.body.exit_code, 3);
    assert.match(call!.body.output as string, /hello 42\n/);
    assert.match(call!.body.output as string, /oops\n/);
    assert.ok(!Number.isNaN(Date.parse(call!.body.completed_at as string)));
    assert.equal(cp.executions.get(e.id)!.status, 'completed');
    assert.equal(acks(cp, e.id).length, 1);

    await waitFor(async () => (await ledgerState(dir, e.id))?.state === 'reported', 'ledger: reported');
    assert.equal((await stat(ledgerPath(dir))).mode & 0o777, 0o600);
    assert.equal(await value(agent.metrics.commandsSynced), 1);
    assert.equal(await value(agent.metrics.commandsEnqueued), 1);
    assert.equal(await value(agent.metrics.commandsCompleted), 1);
    assert.equal(await value(agent.metrics.commandsReported), 1);
  });

  it('runs an execution once although frames repeat and polls return it too', async () => {
    let e!: FakeExecution;
    let marker = '';
    const { cp, nodeId } = await setup({}, {}, (cp, nodeId, dir) => {
      marker = path.join(dir, 'runs');
      // Pending before the agent starts: the start poll, the push on stream open and the poll on
      // stream open all deliver it, plus three more pushes as soon as the socket is there.
      e = cp.addExecution(nodeId, { command_text: `echo run >> ${marker}; sleep 0.2`, push: false });
    });
    await connected(cp, nodeId);
    for (let i = 0; i < 3; i++) cp.pushExecution(e.id);
    await settled(cp, e);
    await delay(300);
    assert.ok(
      cp.requests.filter((r) => r.path === '/api/v1/agents/command_executions' && r.query === 'status=pending').length >= 2,
      'polled at start and on open',
    );
    assert.deepEqual(await lines(marker), ['run']);
    assert.equal(acks(cp, e.id).length, 1);
    assert.equal(results(cp, e.id).length, 1);
  });

  it('kills a command at its timeout and reports exit 124 with the spec message', async () => {
    const { cp, nodeId } = await setup();
    await connected(cp, nodeId);
    const started = Date.now();
    const e = cp.addExecution(nodeId, { command_text: 'sleep 5', timeout: 200 });
    await settled(cp, e);
    assert.ok(Date.now() - started < 3_000, 'did not wait for sleep 5');
    const body = results(cp, e.id)[0]!.body;
    assert.equal(body.exit_code, 124);
    assert.equal(body.output, 'Command timed out after 200 milliseconds');
    assert.equal(cp.executions.get(e.id)!.status, 'completed');
  });

  it('keeps the output a timed-out command printed before the kill, ahead of the timeout line', async () => {
    const { cp, nodeId } = await setup();
    await connected(cp, nodeId);
    const e = cp.addExecution(nodeId, { command_text: "printf 'step 1\\nstep 2 (now hanging)'; sleep 30", timeout: 1_500 });
    await settled(cp, e);
    const body = results(cp, e.id)[0]!.body;
    assert.equal(body.exit_code, 124);
    assert.equal(body.output, 'step 1\nstep 2 (now hanging)\nCommand timed out after 1500 milliseconds');
  });

  it('kills a command on cancel_execution and reports 143, which the server records as cancelled', async () => {
    const { cp, nodeId, dir } = await setup();
    await connected(cp, nodeId);
    const startedFile = path.join(dir, 'started');
    const e = cp.addExecution(nodeId, { command_text: `touch ${startedFile}; sleep 5` });
    await waitFor(async () => (await stat(startedFile).catch(() => null)) !== null, 'the command to start');
    const started = Date.now();
    cp.cancelExecution(e.id);
    await settled(cp, e);
    assert.ok(Date.now() - started < 3_000);
    assert.deepEqual(
      { exit_code: results(cp, e.id)[0]!.body.exit_code, output: results(cp, e.id)[0]!.body.output },
      { exit_code: 143, output: 'Command cancelled' },
    );
    assert.equal(cp.executions.get(e.id)!.status, 'cancelled');
  });

  it('replaces NUL in output with U+FFFD, which the server accepts (it refuses NUL in any string)', async () => {
    const { cp, nodeId } = await setup();
    await connected(cp, nodeId);
    const e = cp.addExecution(nodeId, { command_text: "printf 'init\\0--foo\\0'" });
    await settled(cp, e);
    assert.equal(results(cp, e.id)[0]!.body.output, 'init\uFFFD--foo\uFFFD');
  });

  it('keeps the tail of long output, with a prefix counting the omitted bytes', async () => {
    const { cp, nodeId } = await setup({ NODEPLANE_AGENT_OUTPUT_LIMIT_BYTES: '1024' });
    await connected(cp, nodeId);
    const e = cp.addExecution(nodeId, { command_text: "head -c 5000 /dev/zero | tr '\\0' a; printf END" });
    await settled(cp, e);
    const output = results(cp, e.id)[0]!.body.output as string;
    const match = /^\[output truncated: (\d+) bytes omitted\]\n(a+END)$/.exec(output);
    assert.ok(match, output.slice(0, 80));
    assert.equal(Number(match[1]) + match[2]!.length, 5003);
    assert.ok(Buffer.byteLength(output) <= 1024);
  });

  it('reports an execution whose deadline has passed as expired, without running it', async () => {
    const { cp, nodeId, dir } = await setup();
    await connected(cp, nodeId);
    const marker = path.join(dir, 'ran');
    const e = cp.addExecution(nodeId, { command_text: `touch ${marker}`, expired_at: new Date(Date.now() - 1_000).toISOString() });
    await settled(cp, e);
    assert.equal(results(cp, e.id)[0]!.body.status, 'expired');
    assert.equal(cp.executions.get(e.id)!.status, 'expired');
    assert.equal(await stat(marker).catch(() => null), null, 'the command did not run');
  });

  it('retries a result until the server takes it', async () => {
    const { cp, nodeId, agent } = await setup();
    await connected(cp, nodeId);
    cp.resultFailures = [503, 503];
    const e = cp.addExecution(nodeId, { command_text: 'echo ok' });
    await settled(cp, e);
    assert.deepEqual(
      results(cp, e.id).map((c) => c.answer),
      [503, 503, 200],
    );
    assert.equal(cp.executions.get(e.id)!.output, 'ok\n');
    // The agent counts the report once it has read the server's answer, just after the server recorded it.
    await waitFor(async () => (await value(agent.metrics.commandsReported)) === 1, 'one reported command counted');
  });

  it('sends a shorter output tail when the server finds the result too large', async () => {
    const { cp, nodeId } = await setup({ NODEPLANE_AGENT_OUTPUT_LIMIT_BYTES: '65536' });
    await connected(cp, nodeId);
    cp.resultFailures = [413];
    const e = cp.addExecution(nodeId, { command_text: "head -c 40000 /dev/zero | tr '\\0' a; printf END" });
    await settled(cp, e);
    const [refused, accepted] = results(cp, e.id);
    assert.equal(refused!.answer, 413);
    assert.equal(Buffer.byteLength(refused!.body.output as string), 40003);
    const match = /^\[output truncated: (\d+) bytes omitted\]\n(a+END)$/.exec(accepted!.body.output as string);
    assert.ok(match);
    assert.equal(Number(match[1]) + match[2]!.length, 40003);
    assert.ok(Buffer.byteLength(accepted!.body.output as string) <= 40003 / 4);
  });

  it('drops a result the server refuses with 409 and does not send it again', async () => {
    const { cp, nodeId, dir, agent } = await setup();
    await connected(cp, nodeId);
    cp.resultFailures = [409];
    const e = cp.addExecution(nodeId, { command_text: 'echo ok' });
    await waitFor(() => results(cp, e.id).length === 1, 'the refused result');
    await waitFor(async () => (await ledgerState(dir, e.id))?.state === 'reported', 'ledger: dropped');
    assert.match((await ledgerState(dir, e.id))!.note ?? '', /result refused: 409/);
    await delay(300);
    assert.equal(results(cp, e.id).length, 1);
    assert.equal(await value(agent.metrics.commandsReported), 0);
  });

  it('does not run an execution whose acknowledge is refused', async () => {
    const { cp, nodeId, dir } = await setup();
    await connected(cp, nodeId);
    const marker = path.join(dir, 'ran');
    // A stale push: the admin cancelled it while it was pending, so it is no longer claimable.
    const e = cp.addExecution(nodeId, { command_text: `touch ${marker}`, push: false });
    cp.cancelExecution(e.id);
    cp.pushExecution(e.id);
    await waitFor(async () => (await ledgerState(dir, e.id))?.state === 'reported', 'ledger: claim lost');
    assert.match((await ledgerState(dir, e.id))!.note ?? '', /acknowledge refused: 409/);
    assert.equal(await stat(marker).catch(() => null), null);
    assert.equal(results(cp, e.id).length, 0);
  });

  it('runs an execution whose acknowledge took effect although its answer was lost', async () => {
    const { cp, nodeId, dir } = await setup();
    await connected(cp, nodeId);
    cp.ackAnswersLost = 1;
    const marker = path.join(dir, 'runs');
    const e = cp.addExecution(nodeId, { command_text: `echo run >> ${marker}` });
    await settled(cp, e);
    // First ack: applied, answered 503. Second: 409. The sent list says it is ours.
    assert.equal(acks(cp, e.id).length, 2);
    assert.deepEqual(await lines(marker), ['run']);
  });

  it('polls for pending executions while the stream is down', async () => {
    const { cp, nodeId } = await setup({ NODEPLANE_AGENT_POLL_INTERVAL_MS: '100' }, {}, (cp) => {
      cp.streamEnabled = false;
    });
    await delay(150);
    const e = cp.addExecution(nodeId, { command_text: 'echo polled' });
    await settled(cp, e, 'the polled execution');
    assert.equal(cp.executions.get(e.id)!.output, 'polled\n');
  });

  it('runs at most maxConcurrent commands at once and queues the rest', async () => {
    const { cp, nodeId, dir } = await setup({}, { maxConcurrent: 2 });
    await connected(cp, nodeId);
    const log = path.join(dir, 'log');
    const command = `echo start >> ${log}; sleep 0.3; echo end >> ${log}`;
    const all = Array.from({ length: 5 }, () => cp.addExecution(nodeId, { command_text: command }));
    for (const e of all) await settled(cp, e, 'every execution');
    let running = 0;
    let peak = 0;
    for (const line of await lines(log)) {
      running += line === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    assert.equal(peak, 2);
  });

  describe('across restarts', () => {
    it('never re-runs a command the agent died in, and reports it as 137', async () => {
      const first = await setup();
      const { cp, nodeId, dir } = first;
      await connected(cp, nodeId);
      const marker = path.join(dir, 'runs');
      const e = cp.addExecution(nodeId, { command_text: `echo run >> ${marker}; sleep 5` });
      await waitFor(async () => (await lines(marker)).length === 1, 'the command to start');
      await first.stop();
      assert.equal((await ledgerState(dir, e.id))?.state, 'running');
      assert.equal(cp.executions.get(e.id)!.status, 'sent');
      assert.equal(results(cp, e.id).length, 0);

      const second = startAgent(agentConfig(cp, dir, nodeId), [new CommandRunner(FAST)]);
      await settled(cp, e, 'the 137 report');
      const body = results(cp, e.id)[0]!.body;
      assert.equal(body.exit_code, RESTARTED_EXIT_CODE);
      assert.equal(body.output, RESTARTED_OUTPUT);
      assert.equal(cp.executions.get(e.id)!.status, 'completed');
      await delay(300);
      assert.deepEqual(await lines(marker), ['run']);
      assert.equal(acks(cp, e.id).length, 1);
      assert.equal(results(cp, e.id).length, 1, 'the 137 result is sent once');
      await second.stop();
    });

    it('resolves claims left from before the restart: runs the sent one once, re-claims the pending one, drops the gone one', async () => {
      const marks: Record<string, string> = {};
      let sent!: FakeExecution, pending!: FakeExecution, gone!: FakeExecution;
      const { cp, dir } = await setup({}, {}, async (cp, nodeId, dir) => {
        for (const name of ['sent', 'pending', 'gone']) marks[name] = path.join(dir, name);
        sent = cp.addExecution(nodeId, { command_text: `echo run >> ${marks.sent}`, status: 'sent', push: false });
        pending = cp.addExecution(nodeId, { command_text: `echo run >> ${marks.pending}`, push: false });
        gone = cp.addExecution(nodeId, { command_text: `echo run >> ${marks.gone}`, status: 'cancelled', push: false });
        const claim = (e: FakeExecution) => ({
          id: e.id,
          state: 'claiming',
          updated_at: new Date().toISOString(),
          execution: {
            id: e.id,
            command_id: e.command_id,
            command_text: e.command_text,
            timeout: null,
            expired_at: null,
            status: 'pending',
            inserted_at: e.inserted_at,
          },
        });
        await writeFile(ledgerPath(dir), JSON.stringify({ version: 1, executions: [claim(sent), claim(pending), claim(gone)] }), { mode: 0o600 });
      });
      await settled(cp, sent, 'the sent claim to run');
      await settled(cp, pending, 'the pending claim to run');
      await waitFor(async () => (await ledgerState(dir, gone.id))?.state === 'reported', 'the gone claim dropped');
      await delay(200);
      assert.deepEqual(await lines(marks.sent!), ['run']);
      assert.deepEqual(await lines(marks.pending!), ['run']);
      assert.deepEqual(await lines(marks.gone!), []);
      assert.equal(acks(cp, sent.id).length, 0, 'a claim the server already shows as sent is not acknowledged again');
      assert.equal(acks(cp, pending.id).length, 1);
      assert.ok(cp.requests.some((r) => r.path === '/api/v1/agents/command_executions' && r.query === 'status=sent'));
    });

    it('re-sends a result that was recorded but not reported', async () => {
      let e!: FakeExecution;
      const { cp } = await setup({}, {}, async (cp, nodeId, dir) => {
        e = cp.addExecution(nodeId, { command_text: 'true', status: 'sent', push: false });
        const result = { status: 'completed', exit_code: 0, output: 'from the last run\n', completed_at: '2026-01-01T00:00:00Z' };
        await writeFile(
          ledgerPath(dir),
          JSON.stringify({ version: 1, executions: [{ id: e.id, state: 'finished', updated_at: new Date().toISOString(), result }] }),
        );
      });
      await settled(cp, e);
      assert.deepEqual(results(cp, e.id)[0]!.body, { status: 'completed', exit_code: 0, output: 'from the last run\n', completed_at: '2026-01-01T00:00:00Z' });
      assert.equal(cp.executions.get(e.id)!.output, 'from the last run\n');
      await delay(200);
      assert.equal(results(cp, e.id).length, 1);
    });
  });
});
