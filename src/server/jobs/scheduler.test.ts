import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DatabaseHandle, openDatabase } from '../db/dialect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { scratchDatabaseUrl, testEngines } from '../../../test/helpers/server.ts';
import { Scheduler, type SchedulerDeps } from './scheduler.ts';

const HOUR = 3600_000;

/** A pass that stays running until released, to see what a second tick does meanwhile. */
function gate() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { release, released };
}

for (const engine of testEngines()) {
  describe(`scheduler [${engine}]`, () => {
    let dir: string;
    let drop: () => Promise<void>;
    // Two handles on one database: two instances of the fleet.
    let a: DatabaseHandle;
    let b: DatabaseHandle;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-scheduler-'));
      const scratch = await scratchDatabaseUrl(engine, dir);
      drop = scratch.drop;
      a = openDatabase(scratch.url, { poolSize: 5 });
      await migrateToLatest(a.db);
      b = openDatabase(scratch.url, { poolSize: 5 });
    });
    after(async () => {
      await a.close();
      await b.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    const scheduler = (overrides: Partial<SchedulerDeps> = {}) =>
      new Scheduler({ db: a.db, owner: 'instance-a', ownedClusterIds: async () => [], onError: () => {}, ...overrides });

    it('never overlaps a pass with itself: a tick while it runs shares the running pass', async () => {
      const s = scheduler();
      const { release, released } = gate();
      let runs = 0;
      s.add({
        name: 'slow',
        scope: 'every-instance',
        everyMs: HOUR,
        run: async () => {
          runs++;
          await released;
        },
      });
      const first = s.tick('slow');
      const second = s.tick('slow');
      release();
      assert.deepEqual(await Promise.all([first, second]), [true, true]);
      assert.equal(runs, 1);
      assert.equal(await s.tick('slow'), true);
      assert.equal(runs, 2, 'a tick after the pass finished runs it again');
    });

    it('runs on its timer, reports errors and keeps going, and stop() waits for the running pass', async () => {
      const errors: Array<[string, unknown]> = [];
      const s = scheduler({ onError: (name, error) => errors.push([name, error]) });
      let runs = 0;
      let finished = false;
      const { release, released } = gate();
      s.add({
        name: 'flaky',
        scope: 'every-instance',
        everyMs: 5,
        run: async () => {
          runs++;
          if (runs === 1) throw new Error('first pass fails');
          if (runs === 3) {
            await released;
            finished = true;
          }
        },
      });
      s.start();
      while (runs < 3) await new Promise((r) => setTimeout(r, 5));
      const stopping = s.stop();
      release();
      await stopping;
      assert.equal(finished, true, 'stop() resolved only after the running pass ended');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]![0], 'flaky');
      assert.match(String(errors[0]![1]), /first pass fails/);
      const after = runs;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(runs, after, 'no pass after stop()');
    });

    it('gives an owned-clusters pass the clusters this instance owns, and skips it while it owns none', async () => {
      let owned: string[] = [];
      const seen: string[][] = [];
      const s = scheduler({ ownedClusterIds: async () => owned });
      s.add({ name: 'sweep', scope: 'owned-clusters', everyMs: HOUR, run: async (clusterIds) => void seen.push(clusterIds) });
      assert.equal(await s.tick('sweep'), false);
      owned = ['c1', 'c2'];
      assert.equal(await s.tick('sweep'), true);
      assert.deepEqual(seen, [['c1', 'c2']]);
    });

    it('runs an every-instance pass on each instance', async () => {
      let runs = 0;
      const one = scheduler();
      const two = scheduler({ db: b.db, owner: 'instance-b' });
      for (const s of [one, two]) s.add({ name: 'beat', scope: 'every-instance', everyMs: HOUR, run: async () => void runs++ });
      await Promise.all([one.tick('beat'), two.tick('beat')]);
      assert.equal(runs, 2);
    });

    it('runs a once-in-fleet pass on exactly one of two instances per tick', async () => {
      let clock = 10 * HOUR;
      const ran: string[] = [];
      const instances = [scheduler({ owner: 'instance-a', now: () => clock }), scheduler({ db: b.db, owner: 'instance-b', now: () => clock })];
      instances.forEach((s, i) => s.add({ name: 'prune', scope: 'once-in-fleet', everyMs: HOUR, run: async () => void ran.push(`${clock / HOUR}:${i}`) }));

      for (let tick = 0; tick < 5; tick++) {
        clock = (10 + tick) * HOUR + 1000;
        // Both instances fire several times within the tick, all at once.
        const outcomes = await Promise.all([0, 1, 2].flatMap(() => instances.map((s) => s.tick('prune'))));
        assert.equal(ran.length, tick + 1, `tick ${tick}: exactly one instance ran the pass`);
        // Ticks on the winner while its pass runs share that pass; the other instance ran nothing.
        const won = outcomes.map((ok, i) => (ok ? i % 2 : -1)).filter((i) => i >= 0);
        assert.equal(new Set(won).size, 1);
        clock += HOUR / 2;
        assert.deepEqual(await Promise.all(instances.map((s) => s.tick('prune'))), [false, false], `tick ${tick}: later in the same tick nobody runs it`);
      }
      assert.equal(ran.length, 5);
      const row = await a.db.selectFrom('jobs').selectAll().where('dedupe_key', '=', 'schedule:prune').executeTakeFirstOrThrow();
      assert.equal(row.run_at, new Date(15 * HOUR).toISOString(), 'the row holds the start of the next tick');
      assert.ok(['instance-a', 'instance-b'].includes(row.lease_owner!));
    });

    it('refuses a duplicate name and a non-positive interval', () => {
      const s = scheduler();
      s.add({ name: 'x', scope: 'every-instance', everyMs: 1000, run: async () => {} });
      assert.throws(() => s.add({ name: 'x', scope: 'every-instance', everyMs: 1000, run: async () => {} }), /twice/);
      assert.throws(() => s.add({ name: 'y', scope: 'every-instance', everyMs: 0, run: async () => {} }), /positive/);
    });
  });
}
