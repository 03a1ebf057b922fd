import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { testEngines } from '../../../test/helpers/server.ts';
import { waitUntil } from '../../../test/helpers/stream-agent.ts';
import { PostgresSignalBus } from './postgres-signal-bus.ts';
import { InProcessSignalBus, type SignalBus } from './signal-bus.ts';

type Heard = Array<{ data: unknown; from: string }>;

function listen(bus: SignalBus, topic: string): Heard {
  const heard: Heard = [];
  bus.subscribe(topic, (data, from) => heard.push({ data, from }));
  return heard;
}

describe('in-process signal bus [sqlite]', () => {
  it('loops signals back to this instance, and drops those addressed to another', async () => {
    const bus = new InProcessSignalBus('one', () => {});
    const heard = listen(bus, 'wake');
    await bus.publish('wake', ['n1']);
    await bus.publish('wake', ['n2'], 'someone-else');
    await waitUntil(() => heard.length === 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(heard, [{ data: ['n1'], from: 'one' }]);
  });
});

if (testEngines().includes('postgres')) {
  describe('Postgres signal bus [postgres]', () => {
    let database: TestDatabase;
    let a: PostgresSignalBus;
    let b: PostgresSignalBus;
    const errors: unknown[] = [];

    before(async () => {
      database = await openTestDatabase('postgres');
      a = new PostgresSignalBus('instance-a', database.db, database.postgresUrl!, (e) => errors.push(e));
      b = new PostgresSignalBus('instance-b', database.db, database.postgresUrl!, (e) => errors.push(e));
      await a.start();
      await b.start();
    });
    after(async () => {
      await a.stop();
      await b.stop();
      await database.destroy();
    });

    it('broadcasts to every instance, the publisher included, and addresses one instance', async () => {
      const onA = listen(a, 'hello');
      const onB = listen(b, 'hello');
      await a.publish('hello', { all: true });
      await a.publish('hello', { only: 'b' }, 'instance-b');
      await waitUntil(() => onA.length === 1 && onB.length === 2);
      assert.deepEqual(onA, [{ data: { all: true }, from: 'instance-a' }]);
      assert.deepEqual(onB, [
        { data: { all: true }, from: 'instance-a' },
        { data: { only: 'b' }, from: 'instance-a' },
      ]);
    });

    it('carries a signal far above the 8000-byte NOTIFY limit in chunks, intact', async () => {
      const onB = listen(b, 'big');
      const data = { text: `${'x'.repeat(100_000)}${'ü€😀'.repeat(3000)}`, n: 1 };
      await a.publish('big', data, 'instance-b');
      await waitUntil(() => onB.length === 1);
      assert.deepEqual(onB[0]!.data, data);
    });

    it('re-listens after its connection is killed and announces a resync (signals meanwhile may be lost)', async () => {
      let resyncs = 0;
      b.onResync(() => resyncs++);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = 'LISTEN nodeplane_signals' and pid <> pg_backend_pid()`.execute(
        database.db,
      );
      await waitUntil(() => resyncs > 0);
      const onB = listen(b, 'after');
      // Both listeners were killed; publish until the re-established ones hear it.
      await waitUntil(async () => {
        await a.publish('after', 1, 'instance-b');
        return onB.length > 0;
      });
      assert.ok(errors.length > 0, 'the lost connection is reported');
    });
  });
}
