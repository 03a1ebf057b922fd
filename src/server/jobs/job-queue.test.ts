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
      const runner = new JobRunner(database.db, 20, () => {}, 'instance-a');
      runner.register<{ n: number }>('ok', { concurrency: 2, backoffMs: () => 10, handler: async (job) => void seen.push(job.payload.n) });
      await enqueue(database.db, 'ok', { n: 1 });
      await runner.start();
      await runner.drain();
      await runner.stop();
      assert.deepEqual(seen, [1]);
      assert.deepEqual(await rows('ok'), []);
    });

    it('retries failures with backoff, then keeps the job as dead with its last error', async () => {
      const attempts: number[] = [];
      const runner = new JobRunner(database.db, 20, () => {}, 'instance-a');
      runner.register('flaky', {
        concurrency: 1,
        backoffMs: () => 30,
        handler: async (job: Job) => {
          attempts.push(job.attempts);
          throw new Error(`failure ${job.attempts}`);
        },
      });
      await enqueue(database.db, 'flaky', {}, { maxAttempts: 3 });
      await runner.start();
      await runner.drain();
      await runner.stop();
      assert.deepEqual(attempts, [1, 2, 3]);
      const [dead] = await rows('flaky');
      assert.equal(dead!.state, 'dead');
      assert.equal(dead!.last_error, 'failure 3');
    });

    it('gives up at once on a permanent failure', async () => {
      let calls = 0;
      const runner = new JobRunner(database.db, 20, () => {}, 'instance-a');
      runner.register('terminal', {
        concurrency: 1,
        backoffMs: () => 10,
        handler: async () => {
          calls++;
          throw new PermanentJobError('410 gone');
        },
      });
      await enqueue(database.db, 'terminal', {}, { maxAttempts: 5 });
      await runner.start();
      await runner.drain();
      await runner.stop();
      assert.equal(calls, 1);
      assert.equal((await rows('terminal'))[0]!.state, 'dead');
    });

    it('an instance restarting with the same identity after a crash runs the jobs it had leased at once', async () => {
      let hung!: () => void;
      const started = new Promise<void>((resolve) => {
        hung = resolve;
      });
      let release!: () => void;
      const stuck = new Promise<void>((resolve) => {
        release = resolve;
      });
      // The crashed life: it claimed the job (60 s lease) and never finished it.
      const crashed = new JobRunner(database.db, 20, () => {}, 'instance-x');
      crashed.register('after-crash', {
        concurrency: 1,
        backoffMs: () => 10,
        handler: async () => {
          hung();
          await stuck;
        },
      });
      await enqueue(database.db, 'after-crash', { n: 1 });
      await crashed.start();
      await started;
      const [leased] = await rows('after-crash');
      assert.equal(leased!.lease_owner, 'instance-x');
      assert.ok(Date.parse(leased!.lease_until!) > Date.now() + 30_000);

      // Another instance starting does not touch that lease...
      const other = new JobRunner(database.db, 20, () => {}, 'instance-y');
      const otherRuns: unknown[] = [];
      other.register('after-crash', { concurrency: 1, backoffMs: () => 10, handler: async (job) => void otherRuns.push(job.payload) });
      await other.start();
      await other.drain(500).catch(() => {});
      await other.stop();
      assert.deepEqual(otherRuns, []);

      // ...the same identity restarting releases it, and the job runs now, not after the lease.
      const restarted = new JobRunner(database.db, 20, () => {}, 'instance-x');
      const runs: Array<{ payload: unknown; attempts: number }> = [];
      restarted.register('after-crash', {
        concurrency: 1,
        backoffMs: () => 10,
        handler: async (job) => void runs.push({ payload: job.payload, attempts: job.attempts }),
      });
      await restarted.start();
      await restarted.drain(5_000);
      await restarted.stop();
      assert.deepEqual(runs, [{ payload: { n: 1 }, attempts: 2 }]);
      assert.deepEqual(await rows('after-crash'), []);

      release();
      await crashed.stop();
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
      const a = new JobRunner(database.db, 10, () => {}, 'instance-a');
      const b = new JobRunner(database.db, 10, () => {}, 'instance-b');
      a.register('shared', { concurrency: 4, backoffMs: () => 10, handler });
      b.register('shared', { concurrency: 4, backoffMs: () => 10, handler });
      await enqueueMany(
        database.db,
        Array.from({ length: 200 }, (_, n) => ({ queue: 'shared', payload: { n } })),
      );
      await a.start();
      await b.start();
      await a.drain(20_000);
      await b.drain(20_000);
      await a.stop();
      await b.stop();
      assert.equal(runs.size, 200);
      assert.ok(
        [...runs.values()].every((count) => count === 1),
        'no job ran twice',
      );
    });
  });
}
