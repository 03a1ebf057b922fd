import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { AgentExecution } from '../../contract/agent-stream.ts';
import { ExecutionLedger, ledgerPath } from './execution-ledger.ts';
import { tempDir } from '../testing/feature-test-support.ts';

const execution = (id: string): AgentExecution => ({
  id,
  command_id: 'c-1',
  command_text: 'echo hi',
  timeout: 1000,
  expired_at: null,
  status: 'pending',
  inserted_at: '2026-01-01T00:00:00Z',
});

const onDisk = async (dir: string) => JSON.parse(await readFile(ledgerPath(dir), 'utf8')) as { executions: { id: string; state: string }[] };

describe('execution ledger', () => {
  it('persists each transition 0600 and reads it back after a restart', async () => {
    const dir = await tempDir();
    const { ledger } = await ExecutionLedger.open(dir);
    await ledger.claiming(execution('a'));
    await ledger.claiming(execution('b'));
    await ledger.running('b');
    await ledger.claiming(execution('c'));
    await ledger.running('c');
    await ledger.finished('c', { status: 'completed', exit_code: 0, output: 'hi\n', completed_at: '2026-01-01T00:00:01Z' });
    assert.equal((await stat(ledgerPath(dir))).mode & 0o777, 0o600);

    const { ledger: reopened, warning } = await ExecutionLedger.open(dir);
    assert.equal(warning, null);
    assert.equal(reopened.get('a')?.state, 'claiming');
    assert.deepEqual(reopened.get('a')?.execution, execution('a'));
    assert.equal(reopened.get('b')?.state, 'running');
    assert.deepEqual(reopened.get('c')?.result, { status: 'completed', exit_code: 0, output: 'hi\n', completed_at: '2026-01-01T00:00:01Z' });
    // Only a claim needs the command itself; later states do not carry it around.
    assert.equal(reopened.get('b')?.execution, undefined);
  });

  it('coalesces a burst of changes into few writes that end in the final state', async () => {
    const dir = await tempDir();
    const { ledger } = await ExecutionLedger.open(dir);
    const writes = Array.from({ length: 200 }, (_, i) => ledger.claiming(execution(`e${i}`)));
    writes.push(ledger.reported('e7', 'gone'));
    await Promise.all(writes);
    const file = await onDisk(dir);
    assert.equal(file.executions.length, 200);
    assert.equal(file.executions.find((e) => e.id === 'e7')?.state, 'reported');
    // No temp files left behind by the overlapping writes.
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('prunes old and surplus reported entries but never unfinished ones', async () => {
    const dir = await tempDir();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const { ledger } = await ExecutionLedger.open(dir, { maxAgeMs: 60_000, maxReported: 3, now: () => now });
    await ledger.claiming(execution('old-claim'));
    await ledger.reported('old-1');
    now += 120_000;
    for (const id of ['r1', 'r2', 'r3', 'r4']) await ledger.reported(id);
    const ids = (await onDisk(dir)).executions.map((e) => e.id).sort();
    // old-1 is past maxAgeMs, r1 is the oldest beyond maxReported; the claim is kept whatever its age.
    assert.deepEqual(ids, ['old-claim', 'r2', 'r3', 'r4']);
  });

  it('moves an unreadable file aside and starts empty', async () => {
    const dir = await tempDir();
    await writeFile(ledgerPath(dir), '{"executions": [tor');
    const { ledger, warning } = await ExecutionLedger.open(dir);
    assert.match(warning ?? '', /unreadable; moved to .*corrupt/);
    assert.equal(ledger.size, 0);
    assert.ok((await readdir(dir)).some((f) => f.startsWith('executions.json.corrupt-')));
  });

  it('skips malformed entries and keeps the rest', async () => {
    const dir = await tempDir();
    await writeFile(
      ledgerPath(dir),
      JSON.stringify({
        version: 1,
        executions: [
          { id: 'ok', state: 'running', updated_at: '2026-01-01T00:00:00Z' },
          { id: 'bad-state', state: 'exploded', updated_at: '2026-01-01T00:00:00Z' },
          { id: 'claim-without-command', state: 'claiming', updated_at: '2026-01-01T00:00:00Z' },
        ],
      }),
    );
    const { ledger, warning } = await ExecutionLedger.open(dir);
    assert.match(warning ?? '', /2 malformed entries ignored/);
    assert.deepEqual(
      ledger.list().map((e) => e.id),
      ['ok'],
    );
  });

  it('stops writing once closed', async () => {
    const dir = await tempDir();
    const { ledger } = await ExecutionLedger.open(dir);
    await ledger.claiming(execution('a'));
    await ledger.close();
    await ledger.reported('a');
    assert.equal(ledger.get('a')?.state, 'reported');
    assert.equal((await onDisk(dir)).executions[0]!.state, 'claiming');
  });
});
