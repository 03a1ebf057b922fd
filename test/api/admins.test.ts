import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EVENT_TYPES } from '../../src/server/events/catalog.ts';
import { InstanceService } from '../../src/server/modules/instances/instance.service.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const SECOND = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEGRADED_MESSAGE = 'Cluster is in degraded mode (over capacity) — try again when capacity recovers';

/** Nodes straight into the inventory: the capacity math counts rows, whoever registered them. */
async function insertNodes(server: TestServer, clusterId: string | null, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const at = new Date(Date.now() + i).toISOString();
    await server.ctx.database.db
      .insertInto('nodes')
      .values({
        id,
        kind: 'edge-agent',
        name: `node-${id}`,
        cluster_id: clusterId,
        status: 'healthy',
        last_seen_at: null,
        version: null,
        labels: '{}',
        inserted_at: at,
        updated_at: at,
      })
      .execute();
    ids.push(id);
  }
  return ids;
}

async function insertInstance(server: TestServer, id: string, heartbeatAgoMs: number) {
  const at = new Date(Date.now() - heartbeatAgoMs).toISOString();
  await server.ctx.database.db
    .insertInto('instances')
    .values({ id, name: `admin-${id}`, max_wireguard_peers: 250, version: '0.0.1', started_at: at, heartbeat_at: at })
    .execute();
}

/** Another admin instance on the server's database, with a data dir (and so an id) of its own. */
function peer(server: TestServer, id: string | null, overrides: Record<string, unknown> = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-peer-'));
  if (id) writeFileSync(path.join(dataDir, 'instance-id'), `${id}\n`, { mode: 0o600 });
  const service = new InstanceService(server.ctx.database.db, { ...server.ctx.config, dataDir, ...overrides });
  return { service, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

const nodeNames = (ids: string[]) => ids.map((id) => `node-${id}`);

for (const engine of testEngines()) {
  describe(`admins API [${engine}]`, () => {
    let server: TestServer;
    let self: string;
    before(async () => {
      server = await startServer(engine, { ADMIN_MAX_WIREGUARD_PEERS: '250' });
      self = server.ctx.instances.adminName;
    });
    after(() => server.stop());

    it('describes this admin from its persisted identity', async () => {
      const res = await server.api.get('/api/v1/admins/me');
      assert.equal(res.status, 200);
      const me = res.body.data;
      assert.match(me.id, /^[a-z2-7]{12}$/);
      const file = path.join(server.dataDir, 'instance-id');
      assert.equal(readFileSync(file, 'utf8').trim(), me.id);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(me.name, `admin-${me.id}`);
      assert.equal(me.vpn_hostname, `admin-${me.id}.admin-cluster-1.nm.internal`);
      assert.equal(me.erlang_node_name, `admin@admin-${me.id}.admin-cluster-1.nm.internal`);
      assert.equal(me.admin_cluster_name, 'admin-cluster-1');
      assert.equal(me.max_wireguard_peers, 250);
      assert.equal(me.admin_peer_count, 0);
      assert.equal(me.edge_node_capacity, 250);
      assert.match(me.netmaker_host_id, UUID);
      assert.match(me.last_computed_at, SECOND);
      assert.deepEqual(Object.keys(me).sort(), [
        'admin_cluster_name',
        'admin_peer_count',
        'edge_node_capacity',
        'erlang_node_name',
        'id',
        'last_computed_at',
        'max_wireguard_peers',
        'name',
        'netmaker_host_id',
        'vpn_hostname',
      ]);
      assert.match(res.body.meta.request_id, UUID);
    });

    it('keeps its id across restarts on the same data dir', () => {
      const again = new InstanceService(server.ctx.database.db, server.ctx.config);
      assert.equal(again.adminId, server.ctx.instances.adminId);
      assert.equal(again.adminName, self);
    });

    it('answers discovery without a key', async () => {
      const res = await server.api.withToken(null).get('/api/v1/admins/me/discovery');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data, { name: self });
    });

    it('requires a key on every other admin route and on event types', async () => {
      const anonymous = server.api.withToken(null);
      for (const route of ['me', 'my_admin_cluster', 'admin_clusters', 'edge_clusters', 'orphaned_clusters']) {
        const res = await anonymous.get(`/api/v1/admins/${route}`);
        assert.equal(res.status, 401, route);
        assert.equal(res.body.error.code, 'unauthorized');
      }
      assert.equal((await server.api.withToken('wrong').get('/api/v1/event_types')).status, 401);
    });

    it('lists the 15 edge event types first, in catalog order, then the Core node, VPN, audit and manager tunnel types', async () => {
      const res = await server.api.get('/api/v1/event_types');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data, [...EVENT_TYPES]);
      assert.equal(res.body.data[0], 'edge.node.registered');
      assert.equal(res.body.data[14], 'edge.self_update_request.completed');
      assert.ok(res.body.data.slice(0, 15).every((t: string) => t.startsWith('edge.')));
      assert.deepEqual(res.body.data.slice(15), [
        'core.node.registered',
        'core.node.config_applied',
        'core.node.error',
        'core.node.status_changed',
        'vpn.subscription.limited',
        'vpn.subscription.expired',
        'audit.recorded',
        'manager.node.registered',
        'manager.node.connected',
        'manager.node.disconnected',
        'manager.tunnel.created',
        'manager.tunnel.updated',
        'manager.tunnel.deleted',
        'manager.tunnel.status_changed',
        'manager.node.event',
      ]);
    });

    it('computes the admin cluster and assignments from the real inventory', async () => {
      const busy = await createCluster(server.api, { name: 'busy' });
      const empty = await createCluster(server.api, { name: 'empty' });
      const busyNodes = await insertNodes(server, busy.id, 3);
      await insertNodes(server, null, 1);

      const cluster = await server.api.get('/api/v1/admins/my_admin_cluster');
      assert.equal(cluster.status, 200);
      assert.deepEqual(cluster.body.data, {
        name: 'admin-cluster-1',
        total_admins: 1,
        total_nodes: 4,
        total_edge_capacity: 250,
        degraded: false,
        weak_leader: self,
        topology: [
          {
            name: self,
            vpn_hostname: `${self}.admin-cluster-1.nm.internal`,
            erlang_node_name: `admin@${self}.admin-cluster-1.nm.internal`,
            netmaker_host_id: (await server.api.get('/api/v1/admins/me')).body.data.netmaker_host_id,
            max_wireguard_peers: 250,
            admin_peer_count: 0,
            edge_node_capacity: 250,
          },
        ],
      });

      const edge = await server.api.get('/api/v1/admins/edge_clusters');
      assert.equal(edge.status, 200);
      assert.deepEqual(edge.body.data, { [self]: { 'cluster-busy': nodeNames(busyNodes), 'cluster-empty': [] } });
      assert.deepEqual(Object.keys(edge.body.data[self]), ['cluster-busy', 'cluster-empty']);
      assert.ok(server.ctx.instances.ownsCluster(busy.id));
      assert.deepEqual(server.ctx.instances.ownedClusterIds().sort(), [busy.id, empty.id].sort());

      const orphaned = await server.api.get('/api/v1/admins/orphaned_clusters');
      assert.equal(orphaned.status, 200);
      assert.deepEqual(orphaned.body.data, {});
    });

    it('lists the admin cluster with each instance online or offline by heartbeat', async () => {
      await insertInstance(server, 'zzzzzzzzzzzz', server.ctx.config.instanceTtlMs * 2);
      const res = await server.api.get('/api/v1/admins/admin_clusters');
      assert.equal(res.status, 200);
      assert.equal(res.body.data.length, 1);
      const [cluster] = res.body.data;
      assert.equal(cluster.name, 'admin-cluster-1');
      assert.equal(cluster.ipv4_range, '10.255.255.0/24');
      assert.equal(cluster.admin_count, 2);
      assert.deepEqual(
        cluster.admins.map((a: any) => [a.name, a.status]),
        [
          [self, 'online'],
          ['admin-zzzzzzzzzzzz', 'offline'],
        ],
      );
      const [mine, stale] = cluster.admins;
      assert.equal(mine.vpn_hostname, `${self}.admin-cluster-1.nm.internal`);
      assert.match(mine.netmaker_host_id, UUID);
      assert.equal(mine.ipv4_address, null);
      assert.equal(mine.wireguard_ip_address, null);
      assert.equal(mine.wireguard_port, null);
      assert.equal(mine.use_static_port, false);
      assert.match(mine.last_checked_in, SECOND);
      assert.ok(stale.last_checked_in < mine.last_checked_in);

      // A stale instance is listed but is not a member: it takes no capacity and owns nothing.
      const mac = await server.api.get('/api/v1/admins/my_admin_cluster');
      assert.equal(mac.body.data.total_admins, 1);
      assert.deepEqual(Object.keys((await server.api.get('/api/v1/admins/edge_clusters')).body.data), [self]);
    });
  });

  describe(`admin cluster of two instances on one database [${engine}]`, () => {
    let server: TestServer;
    let a: InstanceService;
    let b: ReturnType<typeof peer>;
    const clusters: Record<string, { id: string; nodes: string[] }> = {};
    before(async () => {
      server = await startServer(engine, { ADMIN_MAX_WIREGUARD_PEERS: '250' });
      a = server.ctx.instances;
      for (const [name, count] of [
        ['big', 3],
        ['mid', 2],
        ['small', 1],
        ['empty', 0],
      ] as const) {
        const cluster = await createCluster(server.api, { name });
        clusters[name] = { id: cluster.id, nodes: await insertNodes(server, cluster.id, count) };
      }
      // `2222…` sorts before any other id (digits precede letters), so the second instance becomes the weak leader.
      b = peer(server, '222222222222');
    });
    after(async () => {
      await b.service.stop().catch(() => {});
      b.cleanup();
      await server.stop();
    });

    it('a peer joining shares the capacity and takes the weak leadership', async () => {
      await insertInstance(server, 'yyyyyyyyyyyy', server.ctx.config.instanceTtlMs * 11);
      await b.service.start();
      assert.equal(b.service.adminName, 'admin-222222222222');
      const me = (await server.api.get('/api/v1/admins/me')).body.data;
      assert.equal(me.admin_peer_count, 1);
      assert.equal(me.edge_node_capacity, 249);

      const res = await server.api.get('/api/v1/admins/my_admin_cluster');
      const cluster = res.body.data;
      assert.equal(cluster.total_admins, 2);
      assert.equal(cluster.total_nodes, 6);
      assert.equal(cluster.total_edge_capacity, 498);
      assert.equal(cluster.weak_leader, 'admin-222222222222');
      assert.deepEqual(
        cluster.topology.map((t: any) => [t.name, t.admin_peer_count, t.edge_node_capacity]),
        [
          ['admin-222222222222', 1, 249],
          [a.adminName, 1, 249],
        ],
      );
      assert.deepEqual(await b.service.myAdminCluster(), cluster);

      // Starting the peer pruned the instance that had been silent for more than ten TTLs.
      const listed = (await server.api.get('/api/v1/admins/admin_clusters')).body.data[0];
      assert.deepEqual(
        listed.admins.map((x: any) => x.name),
        ['admin-222222222222', a.adminName],
      );
    });

    it('both instances compute the same assignment and each sweeps only its own clusters', async () => {
      const expected = {
        'admin-222222222222': { 'cluster-big': nodeNames(clusters.big!.nodes), 'cluster-empty': [] },
        [a.adminName]: { 'cluster-mid': nodeNames(clusters.mid!.nodes), 'cluster-small': nodeNames(clusters.small!.nodes) },
      };
      const viaA = await server.api.get('/api/v1/admins/edge_clusters');
      assert.deepEqual(viaA.body.data, expected);
      assert.deepEqual(await b.service.edgeClusters({ type: 'api-key', key: 'master' }), expected);
      assert.deepEqual(await b.service.orphanedClusters({ type: 'api-key', key: 'master' }), {});

      assert.deepEqual(a.ownedClusterIds().sort(), [clusters.mid!.id, clusters.small!.id].sort());
      assert.deepEqual(b.service.ownedClusterIds().sort(), [clusters.big!.id, clusters.empty!.id].sort());
      for (const { id } of Object.values(clusters)) assert.notEqual(a.ownsCluster(id), b.service.ownsCluster(id));
    });

    it('heartbeats on its own timer', async () => {
      const fast = peer(server, 'bbbbbbbbbbbb', { instanceHeartbeatMs: 100 });
      try {
        await fast.service.start();
        const read = async () =>
          (await server.ctx.database.db.selectFrom('instances').select('heartbeat_at').where('id', '=', 'bbbbbbbbbbbb').executeTakeFirstOrThrow()).heartbeat_at;
        const first = await read();
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.ok((await read()) > first);
      } finally {
        await fast.service.stop();
        fast.cleanup();
      }
    });

    it('a clean leave hands every cluster back to the remaining instance', async () => {
      await b.service.stop();
      assert.deepEqual(b.service.ownedClusterIds(), []);
      const cluster = (await server.api.get('/api/v1/admins/my_admin_cluster')).body.data;
      assert.equal(cluster.total_admins, 1);
      assert.equal(cluster.total_edge_capacity, 250);
      assert.equal(cluster.weak_leader, a.adminName);
      const edge = (await server.api.get('/api/v1/admins/edge_clusters')).body.data;
      assert.deepEqual(Object.keys(edge), [a.adminName]);
      assert.deepEqual(Object.keys(edge[a.adminName]), ['cluster-big', 'cluster-empty', 'cluster-mid', 'cluster-small']);
      assert.equal(a.ownedClusterIds().length, 4);
      const listed = (await server.api.get('/api/v1/admins/admin_clusters')).body.data[0];
      assert.deepEqual(
        listed.admins.map((x: any) => x.name),
        [a.adminName],
      );
    });
  });

  describe(`degraded mode [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { ADMIN_MAX_WIREGUARD_PEERS: '1' });
    });
    after(() => server.stop());

    it('refuses gated writes while nodes exceed capacity, orphans what cannot fit, and recovers', async () => {
      const edge = await createCluster(server.api, { name: 'edge' });
      const spare = await createCluster(server.api, { name: 'spare' });
      const nodes = await insertNodes(server, edge.id, 2);
      await server.ctx.instances.refresh();
      assert.equal(server.ctx.instances.isDegraded(), true);

      const blocked = await server.api.post('/api/v1/clusters', { name: 'more' });
      assert.equal(blocked.status, 503);
      assert.equal(blocked.body.error.code, 'degraded_mode');
      assert.equal(blocked.body.error.message, DEGRADED_MESSAGE);
      assert.equal((await server.api.patch('/api/v1/clusters/spare', { node_limit: 5 })).status, 503);
      assert.equal((await server.api.delete('/api/v1/clusters/spare')).status, 503);
      assert.equal((await server.api.get('/api/v1/clusters')).status, 200);
      assert.equal((await server.api.get('/api/v1/clusters/more')).status, 404);

      const cluster = (await server.api.get('/api/v1/admins/my_admin_cluster')).body.data;
      assert.equal(cluster.degraded, true);
      assert.equal(cluster.total_nodes, 2);
      assert.equal(cluster.total_edge_capacity, 1);
      const self = server.ctx.instances.adminName;
      assert.deepEqual((await server.api.get('/api/v1/admins/orphaned_clusters')).body.data, { 'cluster-edge': nodeNames(nodes) });
      assert.deepEqual((await server.api.get('/api/v1/admins/edge_clusters')).body.data, { [self]: { 'cluster-spare': [] } });
      assert.equal(server.ctx.instances.ownsCluster(edge.id), false);
      assert.equal(server.ctx.instances.ownsCluster(spare.id), true);

      await server.ctx.database.db.deleteFrom('nodes').where('id', '=', nodes[0]!).execute();
      await server.ctx.instances.refresh();
      assert.equal(server.ctx.instances.isDegraded(), false);
      assert.deepEqual((await server.api.get('/api/v1/admins/orphaned_clusters')).body.data, {});
      assert.equal((await server.api.post('/api/v1/clusters', { name: 'more' })).status, 201);
    });
  });
}
