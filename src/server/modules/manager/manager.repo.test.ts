import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { MANAGER_EDGE_KIND } from '../inventory/kinds.ts';
import { managerRepo } from './manager.repo.ts';

for (const engine of testEngines()) {
  describe(`manager repo [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());

    const node = async (overrides: { device_type?: string; held_by?: string | null; registration_token_hash?: string | null } = {}) => {
      const id = randomUUID();
      const now = new Date().toISOString();
      await inventoryRepo.insert(database.db, {
        id,
        kind: MANAGER_EDGE_KIND,
        name: `n-${id.slice(0, 6)}`,
        cluster_id: null,
        status: 'pending',
        last_seen_at: null,
        version: null,
        inserted_at: now,
        updated_at: now,
      });
      await managerRepo.insert(database.db, {
        node_id: id,
        device_type: 'edge',
        description: null,
        expires_at: null,
        registration_token_hash: null,
        node_secret_enc: null,
        last_health: null,
        last_stats: null,
        last_stats_at: null,
        software_version: null,
        protocol_version: null,
        metadata: null,
        held_by: null,
        ...overrides,
      });
      return id;
    };

    it('joins the inventory row, finds by token hash, filters by device type and scope', async () => {
      const edge = await node({ registration_token_hash: 'h-1' });
      const relay = await node({ device_type: 'relay' });
      assert.equal((await managerRepo.find(database.db, edge))?.kind, MANAGER_EDGE_KIND);
      assert.equal((await managerRepo.findByTokenHash(database.db, 'h-1'))?.node_id, edge);
      const relays = await managerRepo.list(database.db, { deviceType: 'relay' }, null);
      assert.deepEqual(
        relays.map((r) => r.node_id),
        [relay],
      );
      assert.deepEqual(
        (await managerRepo.list(database.db, {}, [edge])).map((r) => r.node_id),
        [edge],
      );
    });

    it('releases a node only for the instance still holding it', async () => {
      const id = await node({ held_by: 'instance-a' });
      assert.deepEqual(await managerRepo.heldBy(database.db, 'instance-a'), [id]);
      assert.equal(await managerRepo.release(database.db, id, 'instance-b'), false);
      assert.equal(await managerRepo.release(database.db, id, 'instance-a'), true);
      assert.deepEqual(await managerRepo.heldBy(database.db, 'instance-a'), []);
    });

    it('finds online nodes gone silent whose holder is not live, and releases a holderless one', async () => {
      const stale = new Date(Date.now() - 60_000).toISOString();
      const online = async (heldBy: string | null, lastSeen: string) => {
        const id = await node({ held_by: heldBy });
        await inventoryRepo.update(database.db, id, { status: 'online', last_seen_at: lastSeen });
        return id;
      };
      const dead = await online('instance-dead', stale);
      const holderless = await online(null, stale);
      const heldByLive = await online('instance-live', stale);
      const fresh = await online('instance-dead', new Date().toISOString());
      const cutoff = new Date(Date.now() - 10_000).toISOString();
      const found = (await managerRepo.orphaned(database.db, cutoff, ['instance-live'])).map((r) => r.node_id);
      assert.ok(found.includes(dead) && found.includes(holderless));
      assert.ok(!found.includes(heldByLive) && !found.includes(fresh));
      assert.equal(await managerRepo.release(database.db, holderless, null), true);
      assert.equal(await managerRepo.release(database.db, dead, null), false);
    });

    it('writes sampled stats of many nodes in one go, and only to the nodes named', async () => {
      const [a, b, untouched] = [await node(), await node(), await node()];
      await managerRepo.saveStats(database.db, [
        [a, JSON.stringify({ uptime_secs: 1, name: 'nul \u0000 escaped' }), '2026-12-08T00:00:01.000Z'],
        [b, JSON.stringify({ uptime_secs: 2 }), '2026-12-08T00:00:02.000Z'],
      ]);
      const stats = async (id: string) => {
        const row = (await managerRepo.find(database.db, id))!;
        return [row.last_stats === null ? null : JSON.parse(row.last_stats), row.last_stats_at];
      };
      assert.deepEqual(await stats(a), [{ uptime_secs: 1, name: 'nul \u0000 escaped' }, '2026-12-08T00:00:01.000Z']);
      assert.deepEqual(await stats(b), [{ uptime_secs: 2 }, '2026-12-08T00:00:02.000Z']);
      assert.deepEqual(await stats(untouched), [null, null]);
    });

    it('stores events newest first and drops them with the node', async () => {
      const id = await node();
      const at = new Date().toISOString();
      await managerRepo.insertEvents(database.db, [
        { node_id: id, severity: 'info', category: 'a', message: 'first', details: null, flow_id: null, created_at: at, acknowledged_by: null },
        { node_id: id, severity: 'critical', category: 'b', message: 'second', details: '{"k":1}', flow_id: 'f1', created_at: at, acknowledged_by: null },
      ]);
      const rows = await managerRepo.eventsOf(database.db, id);
      assert.deepEqual(
        rows.map((r) => [r.message, r.acknowledged]),
        [
          ['second', 0],
          ['first', 0],
        ],
      );
      await inventoryRepo.delete(database.db, id);
      assert.deepEqual(await managerRepo.eventsOf(database.db, id), []);
    });
  });
}
