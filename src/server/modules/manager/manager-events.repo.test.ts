import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import type { NewManagerEvent } from '../../db/tables/manager.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { MANAGER_EDGE_KIND } from '../inventory/kinds.ts';
import { managerEventsRepo } from './manager-events.repo.ts';
import { managerRepo } from './manager.repo.ts';

const ALL = { limit: 100, offset: 0 };
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

for (const engine of testEngines()) {
  describe(`manager events repo [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());

    const node = async () => {
      const id = randomUUID();
      const now = new Date().toISOString();
      await inventoryRepo.insert(database.db, {
        id,
        kind: MANAGER_EDGE_KIND,
        name: `n-${id.slice(0, 6)}`,
        cluster_id: null,
        status: 'online',
        last_seen_at: now,
        version: null,
        inserted_at: now,
        updated_at: now,
      });
      return id;
    };

    /** Inserted one at a time, in order: ids grow with the list. */
    const events = async (nodeId: string, rows: Array<Partial<NewManagerEvent>>) => {
      for (const row of rows)
        await managerRepo.insertEvents(database.db, [
          { node_id: nodeId, severity: 'info', category: 'flow', message: 'm', details: null, flow_id: null, created_at: at(0), acknowledged_by: null, ...row },
        ]);
    };

    const messages = async (filter: Parameters<typeof managerEventsRepo.list>[1], scope: readonly string[] | null, page = ALL) =>
      (await managerEventsRepo.list(database.db, filter, scope, page)).map((e) => e.message);

    it('filters by node, severity, category, flow and time, newest first, one page at a time', async () => {
      const a = await node();
      const b = await node();
      await events(a, [
        { message: 'a1', severity: 'warning', category: 'srt', created_at: at(30) },
        { message: 'a2', severity: 'critical', flow_id: 'flow-x', created_at: at(20) },
        { message: 'a3', created_at: at(10) },
      ]);
      await events(b, [{ message: 'b1', severity: 'critical', flow_id: 'flow-x' }]);
      const both = [a, b];

      assert.deepEqual(await messages({}, both), ['b1', 'a3', 'a2', 'a1']);
      assert.deepEqual(await messages({ nodeId: a }, null), ['a3', 'a2', 'a1']);
      assert.deepEqual(await messages({ severity: 'critical' }, both), ['b1', 'a2']);
      assert.deepEqual(await messages({ category: 'srt' }, both), ['a1']);
      assert.deepEqual(await messages({ flowId: 'flow-x', nodeId: a }, both), ['a2']);
      assert.deepEqual(await messages({ from: at(25), to: at(5) }, both), ['a3', 'a2']);
      assert.deepEqual(await messages({}, both, { limit: 2, offset: 0 }), ['b1', 'a3']);
      assert.deepEqual(await messages({}, both, { limit: 2, offset: 2 }), ['a2', 'a1']);
      assert.deepEqual(await messages({}, both, { limit: 2, offset: 4 }), []);
    });

    it('searches message, category, node id and severity case-insensitively, LIKE wildcards taken literally', async () => {
      const a = await node();
      await events(a, [
        { message: 'Loss 100%_on input' },
        { message: 'Loss 1000 on input' },
        { message: 'path C:\\flows\\x' },
        { message: 'quiet', category: 'Bandwidth' },
        { message: 'loud', severity: 'critical' },
      ]);
      const scope = [a];
      assert.deepEqual(await messages({ search: '100%_' }, scope), ['Loss 100%_on input']);
      assert.deepEqual(await messages({ search: '%' }, scope), ['Loss 100%_on input']);
      assert.deepEqual(await messages({ search: '_' }, scope), ['Loss 100%_on input']);
      assert.deepEqual(await messages({ search: '\\flows\\' }, scope), ['path C:\\flows\\x']);
      assert.deepEqual(await messages({ search: 'LOSS 1' }, scope), ['Loss 1000 on input', 'Loss 100%_on input']);
      assert.deepEqual(await messages({ search: 'bandwidth' }, scope), ['quiet']);
      assert.deepEqual(await messages({ search: 'CRITICAL' }, scope), ['loud']);
      assert.equal((await messages({ search: a.slice(0, 13).toUpperCase() }, scope)).length, 5);
      assert.equal((await messages({ search: '' }, scope)).length, 5);
    });

    it('narrows lists and the unacknowledged count to the scope; an empty scope sees nothing', async () => {
      const a = await node();
      const b = await node();
      await events(a, [{ message: 'a1' }]);
      await events(b, [{ message: 'b1' }, { message: 'b2' }]);
      assert.deepEqual(await messages({}, [b]), ['b2', 'b1']);
      assert.deepEqual(await messages({ nodeId: a }, [b]), []);
      assert.deepEqual(await messages({}, []), []);
      assert.equal(await managerEventsRepo.countUnacknowledged(database.db, [a, b]), 3);
      assert.equal(await managerEventsRepo.countUnacknowledged(database.db, [b]), 2);
      assert.equal(await managerEventsRepo.countUnacknowledged(database.db, []), 0);
      assert.ok((await managerEventsRepo.countUnacknowledged(database.db, null)) >= 3);
    });

    it('acknowledges one event with the user who did, and it leaves the unacknowledged count', async () => {
      const a = await node();
      await events(a, [{ message: 'first' }, { message: 'second' }]);
      const [second, first] = await managerEventsRepo.list(database.db, {}, [a], ALL);
      await managerEventsRepo.acknowledge(database.db, Number(second!.id), 'user-1');
      const acked = await managerEventsRepo.find(database.db, Number(second!.id));
      assert.equal(Number(acked?.acknowledged), 1);
      assert.equal(acked?.acknowledged_by, 'user-1');
      assert.equal(Number((await managerEventsRepo.find(database.db, Number(first!.id)))?.acknowledged), 0);
      assert.equal(await managerEventsRepo.countUnacknowledged(database.db, [a]), 1);
      assert.equal(await managerEventsRepo.find(database.db, 2_000_000_000), undefined);
    });

    it('prunes the events older than the cutoff only, and says how many', async () => {
      const a = await node();
      await events(a, [
        { message: 'ancient', created_at: at(60 * 24 * 400) },
        { message: 'old', created_at: at(60 * 24 * 40) },
        { message: 'fresh', created_at: at(1) },
      ]);
      const pruned = await managerEventsRepo.pruneBefore(database.db, at(60 * 24 * 30));
      assert.equal(pruned, 2);
      assert.deepEqual(await messages({}, [a]), ['fresh']);
      assert.equal(await managerEventsRepo.pruneBefore(database.db, at(60 * 24 * 30)), 0);
    });
  });
}
