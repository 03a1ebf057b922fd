/**
 * `command_executions` SQL on both engines: status changes are conditional (a row never moves
 * backwards or changes twice), fan-out inserts are idempotent, and the reads join what views need.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { rowFactory } from '../../../../test/helpers/rows.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { executionRepo } from './execution.repo.ts';

const past = (ms: number) => new Date(Date.now() - ms).toISOString();
const now = () => new Date().toISOString();

for (const engine of testEngines()) {
  describe(`execution repo [${engine}]`, () => {
    let database: TestDatabase;
    let make: ReturnType<typeof rowFactory>;
    const status = async (id: string) => (await executionRepo.find(database.db, id))?.status;

    before(async () => {
      database = await openTestDatabase(engine);
      make = rowFactory(database.db);
    });
    after(() => database.destroy());

    it('inserts one execution per command and node, and returns only the ids actually inserted', async () => {
      const command = await make.command();
      const [a, b] = [await make.edgeNode(), await make.edgeNode()];
      await make.execution(command, a);
      const again = await executionRepo.insertMany(database.db, [make.executionRow(command, a), make.executionRow(command, b)]);
      assert.equal(again.length, 1);
      assert.equal((await executionRepo.find(database.db, again[0]!))?.node_id, b);
    });

    it('reads an execution with its command and the names of its target and node clusters', async () => {
      const targeted = await make.cluster();
      const home = await make.cluster();
      const command = await make.command({ command_text: 'hostname', timeout: 5000 });
      const id = await make.execution(command, await make.edgeNode({ cluster_id: home.id }), { cluster_id: targeted.id, output: 'big' });
      const plain = (await executionRepo.find(database.db, id))!;
      assert.equal(plain.command_text, 'hostname');
      assert.equal(Number(plain.timeout), 5000);
      assert.equal(plain.cluster_name, targeted.name);
      assert.equal(plain.node_cluster_name, home.name);
      assert.equal(plain.output, undefined);
      assert.equal((await executionRepo.find(database.db, id, { withOutput: true }))?.output, 'big');
    });

    it('moves pending → sent once, and cancels only what is still pending', async () => {
      const command = await make.command();
      const sent = await make.execution(command, await make.edgeNode());
      assert.equal(await executionRepo.markSent(database.db, sent, now()), true);
      assert.equal(await executionRepo.markSent(database.db, sent, now()), false);
      assert.equal(await executionRepo.cancelPending(database.db, sent, now()), false);
      assert.equal(await status(sent), 'sent');

      const pending = await make.execution(command, await make.edgeNode());
      assert.equal(await executionRepo.cancelPending(database.db, pending, now()), true);
      assert.equal(await status(pending), 'cancelled');
      assert.equal(await executionRepo.markSent(database.db, pending, now()), false);
    });

    it('cancels an orphan only when it was sent and its node is gone', async () => {
      const command = await make.command();
      const orphan = await make.execution(command, null, { status: 'sent' });
      const attached = await make.execution(command, await make.edgeNode(), { status: 'sent' });
      const pendingOrphan = await make.execution(command, null);
      assert.equal(await executionRepo.cancelOrphan(database.db, orphan, now()), true);
      assert.equal(await executionRepo.cancelOrphan(database.db, orphan, now()), false);
      assert.equal(await executionRepo.cancelOrphan(database.db, attached, now()), false);
      assert.equal(await executionRepo.cancelOrphan(database.db, pendingOrphan, now()), false);
      assert.deepEqual([await status(orphan), await status(attached), await status(pendingOrphan)], ['cancelled', 'sent', 'pending']);
    });

    it('accepts a result for a sent execution, or a cancelled/expired one without an exit code, and keeps an earlier cancel time', async () => {
      const command = await make.command();
      const node = () => make.edgeNode();
      const result = { status: 'completed' as const, output: 'ok', exit_code: 0, completed_at: now(), now: now() };
      const sent = await make.execution(command, await node(), { status: 'sent' });
      assert.equal(await executionRepo.applyResult(database.db, sent, result), true);
      assert.equal(await executionRepo.applyResult(database.db, sent, result), false, 'a completed execution takes no second result');

      const pending = await make.execution(command, await node());
      assert.equal(await executionRepo.applyResult(database.db, pending, result), false);

      const cancelledAt = past(60_000);
      const cancelled = await make.execution(command, await node(), { status: 'cancelled', cancelled_at: cancelledAt });
      assert.equal(await executionRepo.applyResult(database.db, cancelled, { status: 'cancelled', exit_code: 130, completed_at: now(), now: now() }), true);
      const row = (await executionRepo.find(database.db, cancelled))!;
      assert.equal(row.cancelled_at, cancelledAt);
      assert.equal(Number(row.exit_code), 130);
      assert.equal(await executionRepo.applyResult(database.db, cancelled, result), false, 'an exit code is final');
    });

    it('expires only the open executions among the ids and returns those', async () => {
      const command = await make.command();
      const open = [await make.execution(command, await make.edgeNode()), await make.execution(command, await make.edgeNode(), { status: 'sent' })];
      const done = await make.execution(command, await make.edgeNode(), { status: 'completed', exit_code: 0 });
      assert.deepEqual((await executionRepo.expire(database.db, [...open, done], now())).sort(), [...open].sort());
      assert.equal(await status(done), 'completed');
      assert.deepEqual(await executionRepo.expire(database.db, [], now()), []);
    });

    it("finds expiry candidates of owned clusters' nodes, plus orphans when asked", async () => {
      const owned = (await make.cluster()).id;
      const other = (await make.cluster()).id;
      const overdue = await make.command({ expired_at: past(1000) });
      const inOwned = await make.execution(overdue, await make.edgeNode({ cluster_id: owned }));
      const inOther = await make.execution(overdue, await make.edgeNode({ cluster_id: other }));
      const orphan = await make.execution(overdue, null, { status: 'sent' });
      const notDue = await make.execution(
        await make.command({ expired_at: new Date(Date.now() + 3_600_000).toISOString() }),
        await make.edgeNode({ cluster_id: owned }),
      );

      const ids = async (clusters: string[], orphans: boolean) =>
        (await executionRepo.expiredCandidates(database.db, now(), clusters, orphans, 1000)).map((r) => r.id);
      const withOrphans = await ids([owned], true);
      assert.ok(withOrphans.includes(inOwned) && withOrphans.includes(orphan));
      assert.ok(!withOrphans.includes(inOther) && !withOrphans.includes(notDue));
      assert.deepEqual(await ids([owned], false), [inOwned]);
      assert.ok(!(await ids([], false)).includes(inOwned));
    });

    it("lists a node's pending executions before their deadline, oldest first", async () => {
      const node = await make.edgeNode();
      const older = await make.execution(await make.command(), node, { inserted_at: past(2000) });
      const newer = await make.execution(await make.command({ expired_at: new Date(Date.now() + 60_000).toISOString() }), node, { inserted_at: past(1000) });
      await make.execution(await make.command({ expired_at: past(500) }), node);
      await make.execution(await make.command(), node, { status: 'sent' });
      await make.execution(await make.command(), await make.edgeNode());
      assert.deepEqual(
        (await executionRepo.pendingForNode(database.db, node, now())).map((r) => r.id),
        [older, newer],
      );
      const page = await executionRepo.listForNode(database.db, node, { status: 'pending', page_size: 1 });
      assert.deepEqual(
        page.items.map((r) => r.id),
        [older],
      );
    });

    it('deletes finalised executions only: completed, or cancelled/expired with an exit code', async () => {
      const command = await make.command();
      const old = { inserted_at: past(10_000) };
      const completed = await make.execution(command, await make.edgeNode(), { ...old, status: 'completed', exit_code: 0 });
      const waiting = await make.execution(command, await make.edgeNode(), { ...old, status: 'cancelled' });
      const open = await make.execution(command, await make.edgeNode(), { ...old, status: 'sent' });
      const finalised = await executionRepo.finalisedBefore(database.db, past(5000), 1000);
      assert.ok(finalised.includes(completed));
      assert.ok(!finalised.includes(waiting) && !finalised.includes(open));

      assert.equal(await executionRepo.deleteTerminal(database.db, open), false);
      assert.equal(await executionRepo.deleteTerminal(database.db, completed), true);
      assert.equal(await executionRepo.find(database.db, completed), undefined);
      await executionRepo.deleteMany(database.db, [waiting]);
      assert.equal(await executionRepo.find(database.db, waiting), undefined);
    });
  });
}
