import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { testEngines } from '../../../test/helpers/server.ts';
import { enqueue, enqueueMany, type Job, JobRunner, PermanentJobError } from './job-queue.ts';

for (const engine of testEngines()) {
  describe(`job queue [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());
    const rows = (queue: string) => database.db.selectFrom('jobs').selectAll().where('queue', '=', queue).execute();

    it('runs a job once and deletes it', async () => {
      const seen: unknown[] = [];
      const runner = new JobRunner(database.db, 20, () => {});
      runner.register<{ n: number }>('ok', { concurrency: 2, backoffMs: () => 10, handler: async (job) => void seen.push(job.payload.n) });
      await enqueue(database.db, 'ok', { n: 1 });
      runner.start();
      await runner.drain();
      await runner.stop();
      assert.deepEqual(seen, [1]);
      assert.deepEqual(await rows('ok'), []);
    });

    it('retries failures with backoff, then keeps the job as dead with its last error', async () => {
      const attempts: number[] = [];
      const runner = new JobRunner(database.db, 20, () => {});
      runner.register('flaky', { concurrency: 1, backoffMs: () => 30, handler: async (job: Job) => {
        attempts.push(job.attempts);
        throw new Error(`failure ${job.attempts}`);
      } });
      await enqueue(database.db, 'flaky', {}, { maxAttempts: 3 });
      runner.start();
      await runner.drain();
      await runner.stop();
      assert.deepEqual(attempts, [1, 2, 3]);
      const [dead] = await rows('flaky');
      assert.equal(dead!.state, 'dead');
      assert.equal(dead!.last_error, 'failure 3');
    });

    it('gives up at once on a permanent failure', async () => {
      let calls = 0;
      const runner = new JobRunner(database.db, 20, () => {});
      runner.register('terminal', { concurrency: 1, backoffMs: () => 10, handler: async () => {
        calls++;
        throw new PermanentJobError('410 gone');
      } });
      await enqueue(database.db, 'terminal', {}, { maxAttempts: 5 });
      runner.start();
      await runner.drain();
      await runner.stop();
      assert.equal(calls, 1);
      assert.equal((await rows('terminal'))[0]!.state, 'dead');
    });

    it('keeps one live job per dedupe key', async () => {
      await enqueue(database.db, 'dedupe', { a: 1 }, { dedupeKey: 'k1' });
      await enqueue(database.db, 'dedupe', { a: 2 }, { dedupeKey: 'k1' });
      assert.equal((await rows('dedupe')).length, 1);
    });

    it('two workers on one database run each job exactly once', async () => {
      const runs = new Map<number, number>();
      const handler = async (job: Job<{ n: number }>) => {
        runs.set(job.payload.n, (runs.get(job.payload.n) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 2));
      };
      const a = new JobRunner(database.db, 10, () => {});
      const b = new JobRunner(database.db, 10, () => {});
      a.register('shared', { concurrency: 4, backoffMs: () => 10, handler });
      b.register('shared', { concurrency: 4, backoffMs: () => 10, handler });
      await enqueueMany(database.db, Array.from({ length: 200 }, (_, n) => ({ queue: 'shared', payload: { n } })));
      a.start();
      b.start();
      await a.drain(20_000);
      await b.drain(20_000);
      await a.stop();
      await b.stop();
      assert.equal(runs.size, 200);
      assert.ok([...runs.values()].every((count) => count === 1), 'no job ran twice');
    });
  });
}
