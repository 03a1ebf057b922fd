import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { clusterRepo } from '../clusters/cluster.repo.ts';
import { inventoryRepo, type NewInventoryNode } from './inventory.repo.ts';

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;

for (const engine of testEngines()) {
  describe(`inventory repo [${engine}]`, () => {
    let database: TestDatabase;
    const clusterId = uuidv7();
    const node = (overrides: Partial<NewInventoryNode> = {}): NewInventoryNode => ({
      id: uuidv7(),
      kind: 'edge-agent',
      name: 'n',
      cluster_id: null,
      status: 'healthy',
      last_seen_at: null,
      version: null,
      inserted_at: at(0),
      updated_at: at(0),
      ...overrides,
    });
    const ids = async (filters: Record<string, unknown>) =>
      (await inventoryRepo.list(database.db, { page_size: 100, ...filters }, null)).items.map((n) => n.id).sort();

    before(async () => {
      database = await openTestDatabase(engine);
      await clusterRepo.insert(database.db, {
        id: clusterId,
        name: 'repo-c',
        ipv4_range: '100.70.0.0/24',
        node_limit: null,
        inserted_at: at(0),
        updated_at: at(0),
      });
    });
    after(() => database.destroy());

    it('stores labels as JSON and reads them back parsed, with the cluster name', async () => {
      const row = node({ cluster_id: clusterId, labels: { env: 'prod', 'a.b/c': 'x:y "q"' } });
      await inventoryRepo.insert(database.db, row);
      const found = await inventoryRepo.find(database.db, row.id);
      assert.deepEqual(found?.labels, { env: 'prod', 'a.b/c': 'x:y "q"' });
      assert.equal(found?.cluster_name, 'repo-c');
      const bare = node();
      await inventoryRepo.insert(database.db, bare);
      assert.deepEqual((await inventoryRepo.find(database.db, bare.id))?.labels, {});
      assert.equal(await inventoryRepo.find(database.db, uuidv7()), undefined);
    });

    it('updates only the given fields', async () => {
      const row = node({ name: 'before', version: '1.0.0', labels: { keep: 'no' } });
      await inventoryRepo.insert(database.db, row);
      await inventoryRepo.update(database.db, row.id, { name: 'after', labels: { fresh: 'yes' }, updated_at: at(5) });
      const found = (await inventoryRepo.find(database.db, row.id))!;
      assert.deepEqual([found.name, found.version, found.labels, found.updated_at, found.status], ['after', '1.0.0', { fresh: 'yes' }, at(5), 'healthy']);
      await inventoryRepo.update(database.db, row.id, {});
    });

    it('sets a status only from the expected one, and only for a node silent long enough', async () => {
      const row = node({ kind: 'core', status: 'online', last_seen_at: at(10) });
      await inventoryRepo.insert(database.db, row);
      assert.equal(await inventoryRepo.setStatusIf(database.db, row.id, 'online', { status: 'offline' }, { lastSeenBefore: at(5) }), false);
      assert.equal(await inventoryRepo.setStatusIf(database.db, row.id, 'online', { status: 'offline', updated_at: at(20) }, { lastSeenBefore: at(15) }), true);
      assert.equal(await inventoryRepo.setStatusIf(database.db, row.id, 'online', { status: 'error' }), false, 'the second claimant loses');
      assert.equal((await inventoryRepo.find(database.db, row.id))?.status, 'offline');
    });

    it('advances last_seen_at of many nodes at once, never backwards', async () => {
      const a = node({ last_seen_at: at(30) });
      const b = node();
      await inventoryRepo.insert(database.db, a);
      await inventoryRepo.insert(database.db, b);
      await inventoryRepo.touchMany(database.db, [
        [a.id, at(20)],
        [b.id, at(25)],
      ]);
      assert.equal((await inventoryRepo.find(database.db, a.id))?.last_seen_at, at(30));
      assert.equal((await inventoryRepo.find(database.db, b.id))?.last_seen_at, at(25));
    });

    it('maps shared statuses onto each kind, unknown own statuses reading as error', async () => {
      const nodes = {
        sick: node({ kind: 'edge-agent', status: 'unhealthy', name: 'map' }),
        gone: node({ kind: 'edge-agent', status: 'unreachable', name: 'map' }),
        disabled: node({ kind: 'core', status: 'disabled', name: 'map' }),
        broken: node({ kind: 'core', status: 'error', name: 'map' }),
        mesh: node({ kind: 'mesh', status: 'degraded', name: 'map' }),
        odd: node({ kind: 'edge-agent', status: 'from-the-future', name: 'map' }),
      };
      for (const row of Object.values(nodes)) await inventoryRepo.insert(database.db, row);
      const of = (...rows: NewInventoryNode[]) => rows.map((r) => r.id).sort();
      assert.deepEqual(await ids({ name: 'map', status: 'degraded' }), of(nodes.sick, nodes.mesh));
      assert.deepEqual(await ids({ name: 'map', status: 'offline' }), of(nodes.gone, nodes.disabled));
      assert.deepEqual(await ids({ name: 'map', status: 'error' }), of(nodes.broken, nodes.odd));
      assert.deepEqual(await ids({ name: 'map', status: 'pending', kind: 'edge-agent' }), []);
      assert.deepEqual(await ids({ name: 'map', kind: 'core,mesh' }), of(nodes.disabled, nodes.broken, nodes.mesh));
    });

    it('filters by labels: key present, exact value, all pairs', async () => {
      const a = node({ name: 'lab', labels: { env: 'prod', 'k8s.io/zone': 'eu-1' } });
      const b = node({ name: 'lab', labels: { env: 'Prod' } });
      const c = node({ name: 'lab', labels: { tier: 'env' } });
      for (const row of [a, b, c]) await inventoryRepo.insert(database.db, row);
      assert.deepEqual(await ids({ name: 'lab', labels: 'env' }), [a.id, b.id].sort());
      assert.deepEqual(await ids({ name: 'lab', labels: 'env:prod' }), [a.id]);
      assert.deepEqual(await ids({ name: 'lab', labels: 'env:prod,k8s.io/zone:eu-1' }), [a.id]);
      assert.deepEqual(await ids({ name: 'lab', labels: 'env:prod,k8s.io/zone:eu-2' }), []);
      assert.deepEqual(await ids({ name: 'lab', labels: 'env:' }), []);
    });

    it('counts the nodes of every kind in a cluster and deletes with side rows', async () => {
      const counted = await inventoryRepo.countInCluster(database.db, clusterId);
      const core = node({ kind: 'core', status: 'pending', cluster_id: clusterId });
      await inventoryRepo.insert(database.db, core);
      assert.equal(await inventoryRepo.countInCluster(database.db, clusterId), counted + 1);
      await database.db.insertInto('address_allocations').values({ node_id: core.id, cluster_id: clusterId, address: 9 }).execute();
      assert.equal(await inventoryRepo.delete(database.db, core.id), true);
      assert.equal(await inventoryRepo.delete(database.db, core.id), false);
      assert.equal(await inventoryRepo.countInCluster(database.db, clusterId), counted);
      const left = await database.db.selectFrom('address_allocations').select('node_id').where('node_id', '=', core.id).execute();
      assert.deepEqual(left, []);
    });
  });
}
