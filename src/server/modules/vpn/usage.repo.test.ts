/**
 * Traffic SQL on both engines: batch keys are claimed once, usage adds up per minute bucket and
 * saturates instead of overflowing, counters and presence change only where the rules allow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { rowFactory } from '../../../../test/helpers/rows.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { subscriptionRepo } from './subscription.repo.ts';
import { COUNTER_MAX, type UsageRow, usageRepo } from './usage.repo.ts';

const now = () => new Date().toISOString();
const minute = '2025-01-01T10:00:00.000Z';

for (const engine of testEngines()) {
  describe(`usage repo [${engine}]`, () => {
    let database: TestDatabase;
    let make: ReturnType<typeof rowFactory>;

    /** A Core node with one protocol and one subscription granted on it. */
    async function served(overrides: { traffic_limit_bytes?: number } = {}) {
      const nodeId = await make.coreNode();
      const protocolId = await make.protocol(nodeId);
      const userId = await make.vpnUser();
      const subscriptionId = await make.subscription(userId, { node_protocol_ids: [protocolId], ...overrides });
      return { nodeId, protocolId, userId, subscriptionId };
    }
    const usageRow = (s: Awaited<ReturnType<typeof served>>, overrides: Partial<UsageRow> = {}): UsageRow => ({
      node_id: s.nodeId,
      node_protocol_id: s.protocolId,
      user_id: s.userId,
      subscription_id: s.subscriptionId,
      recorded_at: minute,
      bytes_up: 10,
      bytes_down: 20,
      ...overrides,
    });
    const subscription = async (id: number) => (await subscriptionRepo.find(database.db, id))!;

    before(async () => {
      database = await openTestDatabase(engine);
      make = rowFactory(database.db);
    });
    after(() => database.destroy());

    it('claims an idempotency key once per node and route, and prunes old keys', async () => {
      const a = await make.coreNode();
      const b = await make.coreNode();
      assert.equal(await usageRepo.claimBatch(database.db, a, 'usage', 'k1', now()), true);
      assert.equal(await usageRepo.claimBatch(database.db, a, 'usage', 'k1', now()), false);
      assert.equal(await usageRepo.claimBatch(database.db, a, 'session-events', 'k1', now()), true);
      assert.equal(await usageRepo.claimBatch(database.db, b, 'usage', 'k1', now()), true);
      assert.equal((await usageRepo.pruneBatches(database.db, new Date(Date.now() + 60_000).toISOString())) >= 3, true);
      assert.equal(await usageRepo.claimBatch(database.db, a, 'usage', 'k1', now()), true);
    });

    it("tells which protocol ids are the node's own", async () => {
      const mine = await served();
      const theirs = await served();
      assert.deepEqual([...(await usageRepo.ownedProtocolIds(database.db, mine.nodeId, [mine.protocolId, theirs.protocolId, 999_999]))], [mine.protocolId]);
    });

    it('adds usage into its minute bucket and pins it at the counter maximum', async () => {
      const s = await served();
      await usageRepo.upsertUsage(database.db, [usageRow(s)]);
      await usageRepo.upsertUsage(database.db, [usageRow(s, { bytes_up: 1, bytes_down: COUNTER_MAX })]);
      await usageRepo.upsertUsage(database.db, [usageRow(s, { recorded_at: '2025-01-01T10:01:00.000Z' })]);
      const page = await usageRepo.listUsage(database.db, { subscription_id: s.subscriptionId }, null);
      const byMinute = Object.fromEntries(page.items.map((r) => [r.recorded_at, [Number(r.bytes_up), Number(r.bytes_down)]]));
      assert.deepEqual(byMinute, { [minute]: [11, COUNTER_MAX], '2025-01-01T10:01:00.000Z': [10, 20] });
    });

    it('adds deltas to period and lifetime counters, returns them, and locks owners', async () => {
      const s = await served();
      assert.deepEqual([...(await usageRepo.lockSubscriptions(database.db, [s.subscriptionId, 999_999]))], [[s.subscriptionId, s.userId]]);
      const [counted] = await usageRepo.addToSubscriptions(database.db, [{ id: s.subscriptionId, up: 5, down: 7 }]);
      assert.deepEqual(counted, { id: s.subscriptionId, user_id: s.userId, status: 'active', traffic_limit_bytes: 0, used_up_bytes: 5, used_down_bytes: 7 });
      await usageRepo.addToSubscriptions(database.db, [{ id: s.subscriptionId, up: COUNTER_MAX, down: 1 }]);
      const row = await subscription(s.subscriptionId);
      assert.equal(Number(row.used_up_bytes), COUNTER_MAX);
      assert.equal(Number(row.used_down_bytes), 8);
      assert.equal(Number(row.lifetime_used_bytes), COUNTER_MAX);
    });

    it('limits only subscriptions that are still active', async () => {
      const active = await served({ traffic_limit_bytes: 100 });
      const disabledUser = await make.vpnUser();
      const disabled = await make.subscription(disabledUser, { status: 'disabled' });
      const changed = await usageRepo.markLimited(database.db, [active.subscriptionId, disabled], now());
      assert.deepEqual(
        changed.map((r) => Number(r.id)),
        [active.subscriptionId],
      );
      assert.equal((await subscription(active.subscriptionId)).status, 'limited');
      assert.equal((await subscription(disabled)).status, 'disabled');
      assert.deepEqual(await usageRepo.markLimited(database.db, [active.subscriptionId], now()), []);
    });

    it("finds the users' subscriptions a node serves, and applies presence per node, newest wins", async () => {
      const s = await served();
      const elsewhere = await make.coreNode();
      assert.deepEqual(await usageRepo.servedSubscriptions(database.db, s.nodeId, [s.userId]), [
        { subscription_id: s.subscriptionId, user_id: s.userId, protocol: 'vless' },
      ]);
      assert.deepEqual(await usageRepo.servedSubscriptions(database.db, elsewhere, [s.userId]), []);

      await usageRepo.applyPresence(database.db, s.nodeId, [{ subscriptionId: s.subscriptionId, online: true, at: '2025-01-01T10:00:00.000Z' }]);
      let row = await subscription(s.subscriptionId);
      assert.deepEqual([Number(row.online), row.last_node_id], [1, s.nodeId]);
      // Another node going offline hides no session here; an older online changes nothing.
      await usageRepo.applyPresence(database.db, elsewhere, [{ subscriptionId: s.subscriptionId, online: false, at: '2025-01-01T10:05:00.000Z' }]);
      await usageRepo.applyPresence(database.db, elsewhere, [{ subscriptionId: s.subscriptionId, online: true, at: '2025-01-01T09:00:00.000Z' }]);
      row = await subscription(s.subscriptionId);
      assert.deepEqual([Number(row.online), row.last_node_id], [1, s.nodeId]);
      await usageRepo.applyPresence(database.db, s.nodeId, [{ subscriptionId: s.subscriptionId, online: false, at: '2025-01-01T10:05:00.000Z' }]);
      assert.equal(Number((await subscription(s.subscriptionId)).online), 0);
    });

    it('stores session events and lists them with filters', async () => {
      const s = await served();
      await usageRepo.insertSessionEvents(database.db, [
        { node_id: s.nodeId, user_id: s.userId, protocol: 'vless', event_type: 'connect', occurred_at: minute, ip_address: '198.51.100.7', inserted_at: now() },
        {
          node_id: s.nodeId,
          user_id: s.userId,
          protocol: 'vless',
          event_type: 'disconnect',
          occurred_at: '2025-01-01T10:02:00.000Z',
          ip_address: null,
          inserted_at: now(),
        },
      ]);
      const page = await usageRepo.listSessionEvents(database.db, { user_id: s.userId, event_type: 'connect' }, null);
      assert.deepEqual(
        page.items.map((r) => [r.event_type, r.ip_address]),
        [['connect', '198.51.100.7']],
      );
    });
  });
}
