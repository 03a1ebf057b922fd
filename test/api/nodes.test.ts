import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostRange, parseCidr } from '../../src/server/lib/ipv4.ts';
import { AGENT_PORTS, nodeEvents, registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

type Cluster = Awaited<ReturnType<typeof createCluster>>;

for (const engine of testEngines()) {
  describe(`nodes API [${engine}]`, () => {
    let server: TestServer;
    let east: Cluster, west: Cluster, staging: Cluster;
    let n1: RegisteredAgent, n2: RegisteredAgent, n3: RegisteredAgent, n4: RegisteredAgent;
    const ids = (res: { body: any }) => res.body.data.map((n: any) => n.id);
    const list = async (query: string) => {
      const res = await server.api.get(`/api/v1/nodes?${query}`);
      assert.equal(res.status, 200, res.text);
      return res;
    };
    const sameSet = (actual: string[], expected: RegisteredAgent[]) => assert.deepEqual([...actual].sort(), expected.map((a) => a.nodeId).sort());

    before(async () => {
      server = await startServer(engine);
      east = await createCluster(server.api, { name: 'prod-east' });
      west = await createCluster(server.api, { name: 'prod-west' });
      staging = await createCluster(server.api, { name: 'staging' });
      // Spaced out so default inserted_at ordering is unambiguous.
      n1 = await registerAgent(server.api, { cluster: east, id_type: 'persistent', version: '1.0.0', self_update_enabled: true });
      await sleep(3);
      n2 = await registerAgent(server.api, { cluster: east, version: '1.1.0' });
      await sleep(3);
      n3 = await registerAgent(server.api, { cluster: west, version: '2.0.0' });
      await sleep(3);
      n4 = await registerAgent(server.api, { cluster: staging, id_type: 'persistent', version: '1.0.0-beta' });
      await n3.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
    });
    after(() => server.stop());

    it('gets a node in the contract shape with decrypted credentials and its aliases', async () => {
      const alias = await server.api.post(`/api/v1/nodes/${n1.nodeId}/aliases`, { name: 'web' });
      assert.equal(alias.status, 201);
      const res = await server.api.get(`/api/v1/nodes/${n1.nodeId}`);
      assert.equal(res.status, 200);
      const node = res.body.data;
      assert.deepEqual(node, {
        id: n1.nodeId,
        node_name: `node-${n1.nodeId}`,
        cluster_name: 'prod-east',
        netmaker_host_id: null,
        id_type: 'persistent',
        status: 'healthy',
        vpn_hostname: `node-${n1.nodeId}.cluster-prod-east.nm.internal`,
        mdns_hostname: `node-${n1.nodeId}.local`,
        ...AGENT_PORTS,
        api_token: n1.apiToken,
        proxy_password: n1.proxyPassword,
        version: '1.0.0',
        self_update_enabled: true,
        last_seen_at: node.last_seen_at,
        inserted_at: node.inserted_at,
        updated_at: node.updated_at,
        aliases: [{ id: alias.body.data.id, name: 'web', vpn_hostname: 'node-web.cluster-prod-east.nm.internal' }],
      });
      for (const field of ['last_seen_at', 'inserted_at', 'updated_at'] as const) assert.match(node[field], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(res.body.meta.request_id, res.headers.get('x-request-id'));
    });

    it('answers 400 for a malformed id, 404 for an unknown one, 401 without a key', async () => {
      const bad = await server.api.get('/api/v1/nodes/not-a-uuid');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'bad_request');
      assert.ok(bad.body.error.details.id[0].startsWith('Invalid format'));
      const missing = await server.api.get(`/api/v1/nodes/${randomUUID()}`);
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.error, { code: 'not_found', message: 'Resource not found' });
      const anonymous = await server.api.withToken(null).get('/api/v1/nodes');
      assert.equal(anonymous.status, 401);
      const nodeToken = await server.api.withToken(n1.apiToken).get('/api/v1/nodes');
      assert.equal(nodeToken.status, 401, 'a node token is not an admin key');
    });

    it('lists edge nodes newest first with pagination meta', async () => {
      const res = await list('');
      assert.deepEqual(
        ids(res),
        [n4, n3, n2, n1].map((a) => a.nodeId),
      );
      assert.equal(res.body.data[0].node_name, `node-${n4.nodeId}`);
      const page = await list('page_size=3&page=2');
      assert.deepEqual(ids(page), [n1.nodeId]);
      assert.deepEqual(page.body.meta.pagination, {
        page: 2,
        page_size: 3,
        total_count: 4,
        total_pages: 2,
        has_next: false,
        has_prev: true,
        next_page: null,
        prev_page: 1,
      });
    });

    it('lists only edge agents: other kinds in the inventory stay out of this face', async () => {
      const id = randomUUID();
      const now = new Date().toISOString();
      await server.ctx.database.db
        .insertInto('nodes')
        .values({
          id,
          kind: 'core',
          name: 'core-1',
          cluster_id: east.id,
          status: 'healthy',
          last_seen_at: now,
          version: '9.9.9',
          labels: '{}',
          inserted_at: now,
          updated_at: now,
        })
        .execute();
      try {
        assert.equal((await list('')).body.meta.pagination.total_count, 4);
        assert.equal((await server.api.get(`/api/v1/nodes/${id}`)).status, 404);
        assert.equal((await server.api.delete(`/api/v1/nodes/${id}`)).status, 404);
      } finally {
        await server.ctx.database.db.deleteFrom('nodes').where('id', '=', id).execute();
      }
    });

    it('filters by cluster_name through the cluster join: exact, wildcard, comma lists ignored', async () => {
      sameSet(ids(await list('cluster_name=prod-east')), [n1, n2]);
      sameSet(ids(await list('cluster_name=prod*')), [n1, n2, n3]);
      sameSet(ids(await list('cluster_name=*WEST')), [n3]);
      sameSet(ids(await list('cluster_name=PROD-EAST')), []);
      sameSet(ids(await list('cluster_name=prod-east,staging')), [n1, n2, n3, n4]);
    });

    it('filters by id_type and status enums (other values are 400)', async () => {
      sameSet(ids(await list('id_type=persistent')), [n1, n4]);
      sameSet(ids(await list('id_type=random')), [n2, n3]);
      sameSet(ids(await list('status=unhealthy')), [n3]);
      sameSet(ids(await list('status=unreachable')), []);
      const badStatus = await server.api.get('/api/v1/nodes?status=offline');
      assert.equal(badStatus.status, 400);
      assert.deepEqual(badStatus.body.error.details, { status: ['Invalid value for enum'] });
      assert.equal((await server.api.get('/api/v1/nodes?id_type=uuid')).status, 400);
    });

    it('filters by version: exact, comma IN-list, case-insensitive wildcard', async () => {
      sameSet(ids(await list('version=1.0.0')), [n1]);
      sameSet(ids(await list('version=1.0.0,2.0.0')), [n1, n3]);
      sameSet(ids(await list('version=1.*')), [n1, n2, n4]);
      sameSet(ids(await list('version=*-BETA')), [n4]);
    });

    it('filters by self_update_enabled and last_seen_at / inserted_at ranges', async () => {
      sameSet(ids(await list('self_update_enabled=true')), [n1]);
      sameSet(ids(await list('self_update_enabled=false')), [n2, n3, n4]);
      assert.equal((await server.api.get('/api/v1/nodes?self_update_enabled=maybe')).status, 400);
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      sameSet(ids(await list(`last_seen_at__gte=${yesterday}`)), [n1, n2, n3, n4]);
      sameSet(ids(await list(`last_seen_at__gte=${tomorrow}`)), []);
      sameSet(ids(await list('last_seen_at__lte=2000-01-01')), []);
      sameSet(ids(await list(`last_seen_at__lte=${tomorrow}T00:00:00Z&inserted_at__gte=${yesterday}`)), [n1, n2, n3, n4]);
      sameSet(ids(await list('inserted_at__lte=2000-01-01T00:00:00Z')), []);
      const bad = await server.api.get('/api/v1/nodes?last_seen_at__gte=yesterday');
      assert.equal(bad.status, 400);
      const unknown = await server.api.get('/api/v1/nodes?name=x');
      assert.equal(unknown.status, 400);
      assert.deepEqual(unknown.body.error.details, { name: ['Unexpected field: name'] });
    });

    it('sorts by the sortable fields and falls back to the default for any other', async () => {
      assert.deepEqual(
        ids(await list('order_by=version')),
        [n1, n4, n2, n3].map((a) => a.nodeId),
      );
      assert.deepEqual(
        ids(await list('order_by=version&order_directions=desc')),
        [n3, n2, n4, n1].map((a) => a.nodeId),
      );
      assert.equal(ids(await list('order_by=self_update_enabled&order_directions=desc'))[0], n1.nodeId);
      assert.deepEqual(
        ids(await list('order_by=status,version&order_directions=asc,desc')),
        [n2, n4, n1, n3].map((a) => a.nodeId),
      );
      assert.deepEqual(
        ids(await list('order_by=id_type,inserted_at&order_directions=asc,asc')),
        [n1, n4, n2, n3].map((a) => a.nodeId),
      );
      assert.deepEqual(
        ids(await list('order_by=node_name')),
        [n4, n3, n2, n1].map((a) => a.nodeId),
      );
      const seen = await list('order_by=last_seen_at&order_directions=desc');
      assert.equal(seen.body.data.length, 4);
    });

    describe('change_cluster', () => {
      const move = (id: string, body: unknown) => server.api.patch(`/api/v1/nodes/${id}/change_cluster`, body);

      it('answers 422 for an unknown target, 409 for the same cluster, 404 for an unknown node, 400 for a bad body', async () => {
        const unknown = await move(n2.nodeId, { cluster_name: 'nowhere' });
        assert.equal(unknown.status, 422);
        assert.deepEqual(unknown.body.error, { code: 'validation_failed', message: 'Validation failed', details: { cluster_name: ['not found'] } });
        const same = await move(n2.nodeId, { cluster_name: 'prod-east' });
        assert.equal(same.status, 409);
        assert.deepEqual(same.body.error, { code: 'conflict', message: 'node is already in this cluster' });
        assert.equal((await move(randomUUID(), { cluster_name: 'staging' })).status, 404);
        const bad = await move(n2.nodeId, { cluster_name: 'Not_Valid' });
        assert.equal(bad.status, 400);
        assert.ok(bad.body.error.details.cluster_name);
        assert.deepEqual((await move(n2.nodeId, {})).body.error.details, { cluster_name: ['Missing field: cluster_name'] });
        assert.equal((await move('nope', { cluster_name: 'staging' })).status, 400);
      });

      it('answers 409 when the target is at its node limit', async () => {
        const tiny = await createCluster(server.api, { name: 'tiny', node_limit: 1 });
        await registerAgent(server.api, { cluster: tiny });
        const full = await move(n2.nodeId, { cluster_name: 'tiny' });
        assert.equal(full.status, 409);
        assert.equal(full.body.error.message, 'cluster has reached its node limit of 1');
        assert.equal((await server.api.get(`/api/v1/nodes/${n2.nodeId}`)).body.data.cluster_name, 'prod-east');
      });

      it('is refused with 503 while degraded', async () => {
        const original = server.ctx.instances.isDegraded;
        server.ctx.instances.isDegraded = () => true;
        try {
          const res = await move(n2.nodeId, { cluster_name: 'staging' });
          assert.equal(res.status, 503);
          assert.equal(res.body.error.code, 'degraded_mode');
        } finally {
          server.ctx.instances.isDegraded = original;
        }
      });

      it('moves the node: drops its aliases, re-addresses it in the new range, emits cluster_changed', async () => {
        const alias = await server.api.post(`/api/v1/nodes/${n2.nodeId}/aliases`, { name: 'api' });
        assert.equal(alias.status, 201);
        const res = await move(n2.nodeId, { cluster_name: 'staging' });
        assert.equal(res.status, 200);
        const node = res.body.data;
        assert.equal(node.cluster_name, 'staging');
        assert.equal(node.vpn_hostname, `node-${n2.nodeId}.cluster-staging.nm.internal`);
        assert.deepEqual(node.aliases, []);
        assert.equal((await server.api.get(`/api/v1/aliases/${alias.body.data.id}`)).status, 404);

        const allocation = await server.ctx.database.db
          .selectFrom('address_allocations')
          .selectAll()
          .where('node_id', '=', n2.nodeId)
          .executeTakeFirstOrThrow();
        assert.equal(allocation.cluster_id, staging.id);
        const { first, last } = hostRange(parseCidr(staging.ipv4_range)!, 10);
        assert.ok(Number(allocation.address) >= first && Number(allocation.address) <= last);

        const events = (await nodeEvents(server.ctx, n2.nodeId)).filter((e) => e.type === 'edge.node.cluster_changed');
        assert.equal(events.length, 1);
        assert.equal(events[0]!.data.previous_cluster_name, 'prod-east');
        assert.equal(events[0]!.data.cluster_name, 'staging');
        assert.equal(events[0]!.data.node_id, n2.nodeId);
        sameSet(ids(await list('cluster_name=staging')), [n2, n4]);
        // The node keeps its credentials across the move.
        assert.equal((await n2.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
      });
    });

    describe('delete', () => {
      it('is refused with 503 while degraded and deletes nothing', async () => {
        const original = server.ctx.instances.isDegraded;
        server.ctx.instances.isDegraded = () => true;
        try {
          assert.equal((await server.api.delete(`/api/v1/nodes/${n3.nodeId}`)).status, 503);
        } finally {
          server.ctx.instances.isDegraded = original;
        }
        assert.equal((await server.api.get(`/api/v1/nodes/${n3.nodeId}`)).status, 200);
      });

      it('deletes with 204 and cascades the aliases and the address; the token stops working', async () => {
        const alias = await server.api.post(`/api/v1/nodes/${n3.nodeId}/aliases`, { name: 'gone' });
        assert.equal(alias.status, 201);
        const res = await server.api.delete(`/api/v1/nodes/${n3.nodeId}`);
        assert.equal(res.status, 204);
        assert.equal(res.text, '');
        assert.equal((await server.api.get(`/api/v1/nodes/${n3.nodeId}`)).status, 404);
        assert.equal((await server.api.get(`/api/v1/aliases/${alias.body.data.id}`)).status, 404);
        const db = server.ctx.database.db;
        assert.equal(await db.selectFrom('address_allocations').selectAll().where('node_id', '=', n3.nodeId).executeTakeFirst(), undefined);
        assert.equal(await db.selectFrom('edge_nodes').selectAll().where('node_id', '=', n3.nodeId).executeTakeFirst(), undefined);
        assert.equal((await n3.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 401);
        assert.equal((await server.api.delete(`/api/v1/nodes/${n3.nodeId}`)).status, 404);
        assert.equal((await server.api.delete('/api/v1/nodes/123')).status, 400);
      });

      it('frees the address for the next node in the cluster', async () => {
        const { first } = hostRange(parseCidr(west.ipv4_range)!, 10);
        const next = await registerAgent(server.api, { cluster: west });
        const allocation = await server.ctx.database.db
          .selectFrom('address_allocations')
          .select('address')
          .where('node_id', '=', next.nodeId)
          .executeTakeFirstOrThrow();
        assert.equal(Number(allocation.address), first);
      });
    });
  });
}
