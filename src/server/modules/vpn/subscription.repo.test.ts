/**
 * Subscription SQL on both engines: grants are idempotent, sweeps change only what is still due
 * (compare-and-set, so concurrent sweeps act once), and link reads skip what a link must not list.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { rowFactory } from '../../../../test/helpers/rows.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { protocolRepo } from './protocol.repo.ts';
import { subscriptionRepo } from './subscription.repo.ts';

const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

for (const engine of testEngines()) {
  describe(`subscription repo [${engine}]`, () => {
    let database: TestDatabase;
    let make: ReturnType<typeof rowFactory>;
    const status = async (id: number) => (await subscriptionRepo.find(database.db, id))?.status;

    before(async () => {
      database = await openTestDatabase(engine);
      make = rowFactory(database.db);
    });
    after(() => database.destroy());

    it('adds grants idempotently, removes one, and clears them all', async () => {
      const node = await make.coreNode();
      const [p1, p2] = [await make.protocol(node, { port: 443 }), await make.protocol(node, { protocol: 'trojan', port: 8443 })];
      const id = await make.subscription(await make.vpnUser());
      await subscriptionRepo.addGrants(database.db, id, [p2, p1]);
      await subscriptionRepo.addGrants(database.db, id, [p1]);
      assert.deepEqual(
        (await subscriptionRepo.grantsOf(database.db, [id], null)).get(id),
        [p1, p2].sort((a, b) => a - b),
      );
      assert.equal(await subscriptionRepo.removeGrant(database.db, id, p1), true);
      assert.equal(await subscriptionRepo.removeGrant(database.db, id, p1), false);
      await subscriptionRepo.clearGrants(database.db, id, null);
      assert.equal((await subscriptionRepo.grantsOf(database.db, [id], null)).get(id), undefined);
    });

    it('reads, filters and clears grants within a node scope, leaving grants elsewhere', async () => {
      const [mine, theirs] = [await make.coreNode(), await make.coreNode()];
      const [own, other] = [await make.protocol(mine), await make.protocol(theirs)];
      const user = await make.vpnUser();
      const id = await make.subscription(user, { node_protocol_ids: [own, other] });
      const scope = [mine];
      assert.deepEqual((await subscriptionRepo.grantsOf(database.db, [id], scope)).get(id), [own]);
      assert.deepEqual((await subscriptionRepo.grantsOf(database.db, [id], [])).get(id), undefined);
      const listed = async (filter: { node_id?: string; node_protocol_id?: number }, s: string[] | null) =>
        (await subscriptionRepo.list(database.db, { user_id: user, ...filter }, s)).items.map((r) => Number(r.id));
      assert.deepEqual(await listed({ node_id: theirs }, null), [id]);
      assert.deepEqual(await listed({ node_id: theirs }, scope), []);
      assert.deepEqual(await listed({ node_protocol_id: other }, scope), []);
      assert.deepEqual(await listed({ node_protocol_id: own }, scope), [id]);
      assert.deepEqual(await protocolRepo.lockExisting(database.db, [own, other], scope), [own]);

      await subscriptionRepo.clearGrants(database.db, id, scope);
      assert.deepEqual((await subscriptionRepo.grantsOf(database.db, [id], null)).get(id), [other]);
    });

    it('updates, locks and deletes a row; lists it by filters', async () => {
      const user = await make.vpnUser();
      const id = await make.subscription(user, { traffic_limit_bytes: 1000 });
      await subscriptionRepo.update(database.db, id, { reset_strategy: 'week' });
      const locked = await database.db.transaction().execute((trx) => subscriptionRepo.lock(trx, id));
      assert.equal(locked?.reset_strategy, 'week');
      const page = await subscriptionRepo.list(database.db, { user_id: user, is_unlimited: false }, null);
      assert.deepEqual(
        page.items.map((r) => Number(r.id)),
        [id],
      );
      await subscriptionRepo.delete(database.db, id);
      assert.equal(await subscriptionRepo.find(database.db, id), undefined);
    });

    it('expires only live subscriptions past their expiry, once', async () => {
      const user = await make.vpnUser();
      const due = await make.subscription(user, { expires_at: iso(60_000) });
      const later = await make.subscription(user, { expires_at: iso(3_600_000) });
      const disabled = await make.subscription(user, { expires_at: iso(60_000), status: 'disabled' });
      const at = iso(120_000);
      const candidates = (await subscriptionRepo.dueForExpiry(database.db, at, 1000)).map((r) => Number(r.id));
      assert.ok(candidates.includes(due) && !candidates.includes(later) && !candidates.includes(disabled));
      assert.deepEqual(
        (await subscriptionRepo.expire(database.db, [due, later, disabled], at)).map((r) => Number(r.id)),
        [due],
      );
      assert.deepEqual(await subscriptionRepo.expire(database.db, [due], at), [], 'a second sweep changes nothing');
      assert.deepEqual([await status(due), await status(later), await status(disabled)], ['expired', 'active', 'disabled']);
    });

    it('resets period counters once per period and brings a limited subscription back', async () => {
      const user = await make.vpnUser();
      const daily = await make.subscription(user, { reset_strategy: 'day', traffic_limit_bytes: 10 });
      const monthly = await make.subscription(user, { reset_strategy: 'month' });
      await subscriptionRepo.update(database.db, daily, { used_up_bytes: 50, status: 'limited' });
      const boundary = iso(60_000);
      const due = await subscriptionRepo.dueForReset(database.db, 'day', boundary, 1000);
      assert.ok(due.some((r) => Number(r.id) === daily && r.status === 'limited'));
      assert.ok(!due.some((r) => Number(r.id) === monthly));
      const at = iso(61_000);
      assert.deepEqual(await subscriptionRepo.resetPeriod(database.db, [daily], boundary, at), [daily]);
      assert.deepEqual(await subscriptionRepo.resetPeriod(database.db, [daily], boundary, at), [], 'reset already this period');
      const row = (await subscriptionRepo.find(database.db, daily))!;
      assert.deepEqual([row.status, Number(row.used_up_bytes), row.last_reset_at], ['active', 0, at]);
    });

    it('finds a subscription by link UUID and lists the enabled protocols its link serves', async () => {
      const node = await make.coreNode({ name: 'b-node' });
      const first = await make.coreNode({ name: 'a-node' });
      const onB = await make.protocol(node);
      const onA = await make.protocol(first, { protocol: 'trojan', port: 8443 });
      const user = await make.vpnUser({ username: `link-${Date.now()}` });
      const id = await make.subscription(user, { node_protocol_ids: [onB, onA] });
      const link = (await subscriptionRepo.find(database.db, id))!.link_uuid;
      const found = await subscriptionRepo.findByLinkUuid(database.db, link);
      assert.equal(Number(found?.id), id);
      assert.match(found!.username, /^link-/);
      assert.equal(await subscriptionRepo.findByLinkUuid(database.db, '00000000-0000-4000-8000-000000000000'), undefined);
      const protocols = await subscriptionRepo.linkProtocols(database.db, id);
      assert.deepEqual(
        protocols.map((p) => [p.node_name, Number(p.id)]),
        [
          ['a-node', onA],
          ['b-node', onB],
        ],
      );
    });
  });
}
