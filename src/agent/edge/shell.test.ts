import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { delay, tempDir, waitFor } from '../testing/feature-test-support.ts';
import { renderTail, runShell, TailBuffer, truncationPrefix } from './shell.ts';

/** Gone, or a zombie nobody reaped yet (PID 1 in a container may not reap): either way not running. */
async function isGone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

async function readPid(file: string): Promise<number> {
  let text = '';
  await waitFor(async () => (text = await readFile(file, 'utf8').catch(() => '')).trim() !== '', `pid in ${file}`);
  return Number(text.trim());
}

describe('runShell', () => {
  it('runs /bin/sh -c with stdout and stderr in one output and the exit status', async () => {
    const result = await runShell('echo out; echo err >&2; exit 3', { outputLimitBytes: 1024 }).done;
    assert.equal(result.end, 'exited');
    assert.equal(result.exitCode, 3);
    assert.match(result.output, /out\n/);
    assert.match(result.output, /err\n/);
  });

  it('reports a shell killed by a signal as 128 + the signal number', async () => {
    const result = await runShell('kill -9 $$', { outputLimitBytes: 1024 }).done;
    assert.equal(result.exitCode, 137);
    assert.equal(result.signal, 'SIGKILL');
  });

  it('on timeout kills the whole process group, background children included', async () => {
    const dir = await tempDir();
    const pidFile = path.join(dir, 'bg.pid');
    const started = Date.now();
    const result = await runShell(`sleep 30 & echo $! > ${pidFile}; sleep 30`, { outputLimitBytes: 1024, timeoutMs: 200 }).done;
    assert.equal(result.end, 'timeout');
    assert.ok(Date.now() - started < 3_000, 'returns soon after the timeout');
    const bg = await readPid(pidFile);
    await waitFor(() => isGone(bg), 'the background sleep to die with its group');
  });

  it('follows SIGTERM with SIGKILL when the command ignores TERM', async () => {
    const started = Date.now();
    // An ignored signal stays ignored in the children the shell starts.
    const result = await runShell("trap '' TERM; sleep 30", { outputLimitBytes: 1024, timeoutMs: 100, killGraceMs: 300 }).done;
    const elapsed = Date.now() - started;
    assert.equal(result.end, 'timeout');
    assert.ok(elapsed >= 380, `waited for the grace period (${elapsed} ms)`);
    assert.ok(elapsed < 3_000, `but not much longer (${elapsed} ms)`);
  });

  it('treats a timeout too long for a timer as no limit rather than firing at once', async () => {
    const result = await runShell('sleep 0.2; echo done', { outputLimitBytes: 1024, timeoutMs: 30 * 86_400_000 }).done;
    assert.equal(result.end, 'exited');
    assert.equal(result.output, 'done\n');
  });

  it('cancel() ends the command with end = cancelled', async () => {
    const proc = runShell('sleep 30', { outputLimitBytes: 1024 });
    await delay(50);
    proc.cancel();
    const result = await proc.done;
    assert.equal(result.end, 'cancelled');
    assert.equal(result.exitCode, 143);
  });

  it('does not wait for a daemon the command left holding its output pipe', async () => {
    const dir = await tempDir();
    const pidFile = path.join(dir, 'daemon.pid');
    const started = Date.now();
    const result = await runShell(`sleep 30 & echo $! > ${pidFile}; echo started`, { outputLimitBytes: 1024, drainMs: 200 }).done;
    assert.ok(Date.now() - started < 2_000);
    assert.equal(result.exitCode, 0);
    assert.equal(result.output, 'started\n');
    // A daemon started on purpose is not ours to kill; the test cleans up after itself.
    process.kill(await readPid(pidFile), 'SIGKILL');
  });
});

describe('output tail', () => {
  it('returns output within the limit unchanged', () => {
    assert.equal(renderTail(Buffer.from('hello'), 5, 5), 'hello');
  });

  it('keeps the newest bytes behind a prefix that counts what was dropped, within the limit', () => {
    const tail = new TailBuffer(100);
    const all = Array.from({ length: 50 }, (_, i) => `line ${String(i).padStart(3, '0')}\n`).join('');
    for (let i = 0; i < all.length; i += 7) tail.push(Buffer.from(all.slice(i, i + 7)));
    const text = tail.render();
    const match = /^\[output truncated: (\d+) bytes omitted\]\n/.exec(text);
    assert.ok(match, text);
    const kept = text.slice(match[0].length);
    assert.ok(all.endsWith(kept));
    assert.equal(Number(match[1]) + Buffer.byteLength(kept), all.length);
    assert.ok(Buffer.byteLength(text) <= 100);
    assert.ok(kept.endsWith('line 049\n'));
  });

  it('never opens the kept text with a torn UTF-8 character', () => {
    const all = Buffer.from('é'.repeat(200)); // 2 bytes each
    for (let limit = 60; limit < 70; limit++) {
      const text = renderTail(all, all.length, limit);
      const kept = text.slice(text.indexOf('\n') + 1);
      assert.ok(/^é+$/.test(kept), `limit ${limit}: ${JSON.stringify(kept.slice(0, 3))}`);
      assert.ok(Buffer.byteLength(text) <= limit);
      assert.equal(text.slice(0, text.indexOf('\n') + 1), truncationPrefix(all.length - Buffer.byteLength(kept)));
    }
  });

  it('holds no more than the limit plus one chunk in memory', () => {
    const tail = new TailBuffer(1000);
    for (let i = 0; i < 10_000; i++) tail.push(Buffer.alloc(64, 97));
    assert.equal(tail.total, 640_000);
    assert.ok(Buffer.byteLength(tail.render()) <= 1000);
  });
});
