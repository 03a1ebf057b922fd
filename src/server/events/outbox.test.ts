import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { testEngines } from '../../../test/helpers/server.ts';
import { Outbox } from './outbox.ts';
import { EventRelay, type StoredEvent } from './relay.ts';
import type { EventDataMap } from './catalog.ts';

const verified = (name: string): EventDataMap['edge.enrollment_key.verified'] => ({
  enrollment_key_id: null,
  cluster_name: name,
  name: null,
  uses_remaining: null,
  result: 'invalid_key',
  verified_at: new Date().toISOString(),
  attempts: 1,
});

for (const engine of testEngines()) {
  describe(`outbox and relay [${engine}]`, () => {
    let database: TestDatabase;
    let relay: EventRelay;
    let outbox: Outbox;
    const errors: unknown[] = [];

    before(async () => {
      database = await openTestDatabase(engine);
      relay = new EventRelay(database.db, 50, (e) => errors.push(e));
      outbox = new Outbox(database.db, 'test-core', () => relay.kick());
    });
    after(async () => {
      await relay.stop();
      await database.destroy();
    });

    it('writes events with the change and publishes nothing when the change rolls back', async () => {
      await outbox.run(async (trx, emit) => {
        await trx
          .insertInto('clusters')
          .values({ id: 'c1', name: 'one', ipv4_range: '100.64.0.0/24', node_limit: null, inserted_at: 'x', updated_at: 'x' })
          .execute();
        emit('edge.enrollment_key.verified', verified('one'));
      });
      await assert.rejects(
        outbox.run(async (trx, emit) => {
          await trx
            .insertInto('clusters')
            .values({ id: 'c2', name: 'two', ipv4_range: '100.64.1.0/24', node_limit: null, inserted_at: 'x', updated_at: 'x' })
            .execute();
          emit('edge.enrollment_key.verified', verified('two'));
          throw new Error('boom');
        }),
        /boom/,
      );
      const events = await database.db.selectFrom('events').selectAll().execute();
      assert.equal(events.length, 1);
      const envelope = JSON.parse(events[0]!.envelope);
      assert.equal(envelope.specversion, '1.0');
      assert.equal(envelope.type, 'edge.enrollment_key.verified');
      assert.equal(envelope.corename, 'test-core');
      assert.equal(envelope.data.cluster_name, 'one');
      assert.match(envelope.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      const clusters = await database.db.selectFrom('clusters').select('name').execute();
      assert.deepEqual(
        clusters.map((c) => c.name),
        ['one'],
      );
    });

    it('relays to durable subscribers exactly once, in order, across relay restarts', async () => {
      const seen: StoredEvent[] = [];
      relay.subscribeDurable('test-consumer', async (events) => {
        seen.push(...events);
      });
      await relay.start();
      for (let i = 0; i < 5; i++) {
        await outbox.run(async (_trx, emit) => emit('edge.enrollment_key.verified', verified(`n${i}`)));
      }
      await relay.flush();
      assert.deepEqual(
        seen.map((e) => (e.envelope.data as { cluster_name: string }).cluster_name),
        ['one', 'n0', 'n1', 'n2', 'n3', 'n4'],
      );
      await relay.stop();

      // A second relay (a restarted process) resumes after the stored cursor: nothing twice.
      const again: StoredEvent[] = [];
      const restarted = new EventRelay(database.db, 50, (e) => errors.push(e));
      restarted.subscribeDurable('test-consumer', async (events) => {
        again.push(...events);
      });
      await restarted.start();
      await outbox.run(async (_trx, emit) => emit('edge.enrollment_key.verified', verified('after-restart')));
      await restarted.flush();
      await restarted.stop();
      assert.deepEqual(
        again.map((e) => (e.envelope.data as { cluster_name: string }).cluster_name),
        ['after-restart'],
      );
      assert.deepEqual(errors, []);
    });

    it('does not advance a durable cursor when the subscriber fails', async () => {
      let fail = true;
      const delivered: string[] = [];
      const flaky = new EventRelay(database.db, 50, () => {});
      flaky.subscribeDurable('flaky', async (events) => {
        if (fail) throw new Error('receiver down');
        delivered.push(...events.map((e) => e.envelope.id));
      });
      await flaky.start();
      await flaky.flush();
      assert.equal(delivered.length, 0);
      fail = false;
      await flaky.flush();
      await flaky.stop();
      const total = await database.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(delivered.length, Number(total.n));
    });

    it('gives live subscribers only events committed after start', async () => {
      const live = new EventRelay(database.db, 50, () => {});
      const got: string[] = [];
      live.subscribeLive((e) => got.push((e.envelope.data as { cluster_name: string }).cluster_name as string));
      await live.start();
      const liveOutbox = new Outbox(database.db, 'test-core', () => live.kick());
      await liveOutbox.run(async (_trx, emit) => emit('edge.enrollment_key.verified', verified('live-1')));
      await live.flush();
      await live.stop();
      assert.deepEqual(got, ['live-1']);
    });
  });
}
