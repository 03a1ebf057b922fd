import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { FakeCoreServer } from '../testing/fake-core-server.ts';
import { type JournalItem, PermanentPushError, PushJournal } from './journal.ts';
import { NodeApiError, NodeClient } from './node-client.ts';
import type { UsageEntry } from '../../contract/core-node/ingest.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dirs: string[] = [];
const servers: FakeCoreServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setup() {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-journal-'));
  dirs.push(dir);
  const server = new FakeCoreServer();
  servers.push(server);
  await server.listen();
  server.codes.add('c');
  const client = new NodeClient({ baseUrl: server.url, timeoutMs: 2_000 });
  client.authKey = (await client.register({ code: 'c', name: 'n', host: 'h', ip: '127.0.0.1', region: '' })).authKey;
  // What core-agent does: transient failures stop the flush, other 4xx set the item aside.
  const send = async (item: JournalItem) => {
    try {
      await client.push(item.route, item.body, item.key);
    } catch (error) {
      if (error instanceof NodeApiError && !error.transient && error.status !== 401) throw new PermanentPushError(error.message);
      throw error;
    }
  };
  const open = async () => {
    const journal = new PushJournal({ dir, logger, maxEntries: 3 });
    await journal.open();
    return journal;
  };
  return { dir, server, send, open };
}

const entry = (userId: number, bytesDown: number, minute = '2030-01-01T10:00:00.000Z'): UsageEntry => ({
  userId,
  subscriptionId: userId * 10,
  nodeProtocolId: 1,
  bytesUp: 1,
  bytesDown,
  recordedAt: minute,
});
const poll = (usage: UsageEntry[]) => ({ usage, outbound: [{ tag: 'direct', bytesUp: 1, bytesDown: 2 }], events: [], online: {} });

describe('push journal', () => {
  it('keeps read deltas across a crash between the read and the push, and pushes them once', async () => {
    const { server, send, open, dir } = await setup();
    const first = await open();
    await first.record(poll([entry(1, 100), entry(2, 200)]));
    await first.record(poll([entry(1, 50)]));
    assert.equal((await stat(path.join(dir, 'open.json'))).mode & 0o777, 0o600);
    // Crash: the object is dropped without sealing or pushing.
    const second = await open();
    await second.seal();
    assert.deepEqual(await second.flush(send), { pushed: 2, rejected: 0, remaining: 0 });
    assert.deepEqual(
      server.usageByUser(),
      new Map([
        [1, { up: 2, down: 150 }],
        [2, { up: 1, down: 200 }],
      ]),
    );
    assert.deepEqual(
      server.on('/node/outbound-usage').map((r) => r.body.items),
      [[{ tag: 'direct', bytesUp: 2, bytesDown: 4 }]],
    );
    // Nothing left to push twice.
    const third = await open();
    await third.seal();
    assert.deepEqual(await third.flush(send), { pushed: 0, rejected: 0, remaining: 0 });
    assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => n.startsWith('batch-'))), []);
  });

  it('does not seal the same data twice when the crash falls between writing the batch and resetting open.json', async () => {
    const { server, send, open, dir } = await setup();
    const journal = await open();
    await journal.record(poll([entry(1, 10)]));
    const before = await readFile(path.join(dir, 'open.json'), 'utf8');
    await journal.seal();
    // Put the pre-seal open.json back: exactly what a crash before its reset leaves on disk.
    await writeFile(path.join(dir, 'open.json'), before);
    const restarted = await open();
    await restarted.seal();
    await restarted.flush(send);
    assert.equal(server.usageByUser().get(1)?.down, 10);
  });

  it('repeats a push whose answer was lost with the same Idempotency-Key, so the server counts it once', async () => {
    const { server, send, open } = await setup();
    const journal = await open();
    await journal.record(poll([entry(1, 100)]));
    await journal.seal();
    // The server stores the push, then the connection dies before the agent hears back.
    let release!: () => void;
    server.inject('/node/usage', { hold: new Promise<void>((r) => (release = r)), then: 'drop' });
    const flushing = journal.flush(send);
    release();
    const result = await flushing;
    assert.equal(result.pushed, 0);
    assert.ok(result.remaining > 0);
    // The agent restarts and pushes again.
    const again = await open();
    await again.flush(send);
    const usage = server.on('/node/usage');
    assert.equal(usage.length, 2, 'pushed twice');
    assert.equal(usage[0]!.idempotencyKey, usage[1]!.idempotencyKey);
    assert.equal(server.counted.filter((r) => r.route === '/node/usage').length, 1, 'counted once');
  });

  it('pushes batches oldest first, stops at a failure and resumes in order; splits big batches', async () => {
    const { server, send, open } = await setup();
    const journal = await open();
    await journal.record(poll([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]));
    await journal.seal();
    await journal.record(poll([entry(5, 1)]));
    await journal.seal();
    server.inject('/node/usage', { status: 503 });
    const failed = await journal.flush(send);
    assert.equal(failed.pushed, 0);
    assert.equal(failed.remaining, 5, '2 usage chunks + outbound of batch 1, usage + outbound of batch 2');
    await journal.flush(send);
    const users = server.counted.filter((r) => r.route === '/node/usage').map((r) => r.body.entries.map((e: UsageEntry) => e.userId));
    assert.deepEqual(users, [[1, 2, 3], [4], [5]]);
    const keys = server.counted.map((r) => r.idempotencyKey);
    assert.equal(new Set(keys).size, keys.length, 'every request has its own key');
  });

  it('sets aside only the entry the server refuses for good, and goes on', async () => {
    const { server, send, open, dir } = await setup();
    const journal = await open();
    await journal.record(poll([entry(1, 1), entry(666, 6), entry(3, 3)]));
    await journal.seal();
    await journal.record(poll([entry(2, 2)]));
    await journal.seal();
    // Core refuses a whole batch for one entry of another node (nothing stored): reject user 666 every time.
    const original = send;
    const refusing = async (item: JournalItem) => {
      if (item.route === '/node/usage' && (item.body as { entries: UsageEntry[] }).entries.some((e) => e.userId === 666)) {
        throw new PermanentPushError('400 entries.1.nodeProtocolId: not a protocol of this node');
      }
      return original(item);
    };
    const result = await journal.flush(refusing);
    assert.equal(result.rejected, 1);
    assert.equal(result.remaining, 0);
    const rejected = await readdir(path.join(dir, 'rejected'));
    assert.equal(rejected.length, 1);
    const set = JSON.parse(await readFile(path.join(dir, 'rejected', rejected[0]!), 'utf8'));
    assert.deepEqual(
      set.body.entries.map((e: UsageEntry) => e.userId),
      [666],
    );
    assert.match(set.error, /not a protocol of this node/);
    assert.deepEqual([...server.usageByUser().keys()].sort(), [1, 2, 3]);
  });

  it('maps a real 400 from the server to a set-aside item', async () => {
    const { server, send, open } = await setup();
    const journal = await open();
    await journal.record(poll([entry(1, 1)]));
    await journal.seal();
    server.inject('/node/usage', { status: 400, message: 'entries.0.userId must be a positive integer' });
    assert.deepEqual(await journal.flush(send), { pushed: 1, rejected: 1, remaining: 0 });
  });
});
