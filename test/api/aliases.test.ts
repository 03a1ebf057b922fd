import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

for (const engine of testEngines()) {
  describe(`aliases API [${engine}]`, () => {
    let server: TestServer;
    let east: RegisteredAgent, east2: RegisteredAgent, west: RegisteredAgent;
    const create = (nodeId: string, body: unknown) => server.api.post(`/api/v1/nodes/${nodeId}/aliases`, body);
    const names = (res: { body: any }) => res.body.data.map((a: any) => a.name);
    const list = async (query: string) => {
      const res = await server.api.get(`/api/v1/aliases?${query}`);
      assert.equal(res.status, 200, res.text);
      return res;
    };

    before(async () => {
      server = await startServer(engine);
      const prodEast = await createCluster(server.api, { name: 'prod-east' });
      const prodWest = await createCluster(server.api, { name: 'prod-west' });
      east = await registerAgent(server.api, { cluster: prodEast });
      east2 = await registerAgent(server.api, { cluster: prodEast });
      west = await registerAgent(server.api, { cluster: prodWest });
    });
    after(() => server.stop());

    it('creates an alias: 201 without a location, hostname under the node- prefix, shown on the node', async () => {
      const res = await create(east.nodeId, { name: 'web-server' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), null);
      const alias = res.body.data;
      assert.deepEqual(alias, {
        id: alias.id,
        name: 'web-server',
        vpn_hostname: 'node-web-server.cluster-prod-east.nm.internal',
        node_id: east.nodeId,
        cluster_name: 'prod-east',
        inserted_at: alias.inserted_at,
        updated_at: alias.updated_at,
      });
      assert.match(alias.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
      assert.match(alias.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const node = (await server.api.get(`/api/v1/nodes/${east.nodeId}`)).body.data;
      assert.deepEqual(node.aliases, [{ id: alias.id, name: 'web-server', vpn_hostname: alias.vpn_hostname }]);
    });

    it('keeps names unique per cluster (409) but allows the same name in another cluster', async () => {
      const taken = await create(east2.nodeId, { name: 'web-server' });
      assert.equal(taken.status, 409);
      assert.deepEqual(taken.body.error, { code: 'conflict', message: 'name has already been taken' });
      const elsewhere = await create(west.nodeId, { name: 'web-server' });
      assert.equal(elsewhere.status, 201);
      assert.equal(elsewhere.body.data.vpn_hostname, 'node-web-server.cluster-prod-west.nm.internal');
    });

    it('validates the name (400) and the node id (400), and refuses an unknown node (404)', async () => {
      const pattern = await create(east.nodeId, { name: 'Web_Server' });
      assert.equal(pattern.status, 400);
      assert.ok(pattern.body.error.details.name[0].startsWith('Invalid format'));
      assert.deepEqual((await create(east.nodeId, { name: '' })).body.error.details.name, [
        'String length is smaller than minLength: 1',
        'Invalid format. Expected ~r/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/',
      ]);
      assert.equal((await create(east.nodeId, { name: 'a'.repeat(64) })).status, 400);
      assert.equal((await create(east.nodeId, { name: 'a'.repeat(63) })).status, 201);
      assert.deepEqual((await create(east.nodeId, {})).body.error.details, { name: ['Missing field: name'] });
      assert.equal((await create('not-a-uuid', { name: 'x' })).status, 400);
      const missing = await create(randomUUID(), { name: 'x' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'not_found');
    });

    it("refuses a name that is a node id (it would shadow that node's hostname) with 422", async () => {
      const res = await create(east.nodeId, { name: east2.nodeId });
      assert.equal(res.status, 422);
      assert.deepEqual(res.body.error.details, { name: ['cannot be a node id'] });
    });

    it('refuses a node that holds no VPN address yet with 409', async () => {
      await server.ctx.database.db.deleteFrom('address_allocations').where('node_id', '=', east2.nodeId).execute();
      try {
        const res = await create(east2.nodeId, { name: 'no-ip' });
        assert.equal(res.status, 409);
        assert.equal(res.body.error.message, 'Node has not been assigned an IP address yet. It may still be enrolling in the VPN.');
      } finally {
        // Re-registration gives the node an address again.
        await registerAgent(server.api, { cluster: 'prod-east', node_id: east2.nodeId, token: east2.apiToken });
      }
      assert.equal((await create(east2.nodeId, { name: 'has-ip' })).status, 201);
    });

    it('lists with name, node_id and cluster_name filters and sorts by name', async () => {
      await sleep(2);
      assert.deepEqual(names(await list(`node_id=${east2.nodeId}`)), ['has-ip']);
      const fallback = await list('name=web*&order_by=cluster_name');
      assert.deepEqual(
        fallback.body.data.map((a: any) => a.cluster_name),
        ['prod-west', 'prod-east'],
        'unsortable field: newest first',
      );
      assert.deepEqual((await list('name=WEB-*')).body.meta.pagination.total_count, 2);
      assert.deepEqual((await list('name=web-server')).body.data.map((a: any) => a.cluster_name).sort(), ['prod-east', 'prod-west']);
      assert.deepEqual(names(await list('cluster_name=prod-west')), ['web-server']);
      assert.equal((await list('cluster_name=prod*')).body.meta.pagination.total_count, 4);
      assert.equal((await list('cluster_name=prod-west,nothing')).body.meta.pagination.total_count, 4, 'comma lists are ignored on the join');
      assert.deepEqual(names(await list('cluster_name=prod-east&order_by=name&order_directions=desc')), ['web-server', 'has-ip', 'a'.repeat(63)]);
      assert.deepEqual(names(await list('cluster_name=prod-east&order_by=name')), ['a'.repeat(63), 'has-ip', 'web-server']);
      assert.equal((await server.api.get('/api/v1/aliases?node_id=abc')).status, 400);
      assert.equal((await server.api.get('/api/v1/aliases?vpn_hostname=x')).status, 400);
      assert.equal((await server.api.withToken(null).get('/api/v1/aliases')).status, 401);
    });

    it('gets and deletes an alias; unknown ids are 404, malformed ones 400', async () => {
      const alias = (await create(west.nodeId, { name: 'temp' })).body.data;
      const got = await server.api.get(`/api/v1/aliases/${alias.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.data, alias);
      assert.equal((await server.api.get(`/api/v1/aliases/${randomUUID()}`)).status, 404);
      assert.equal((await server.api.get('/api/v1/aliases/temp')).status, 400);
      const del = await server.api.delete(`/api/v1/aliases/${alias.id}`);
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assert.equal((await server.api.get(`/api/v1/aliases/${alias.id}`)).status, 404);
      assert.equal((await server.api.delete(`/api/v1/aliases/${alias.id}`)).status, 404);
      assert.equal((await server.api.delete('/api/v1/aliases/temp')).status, 400);
    });

    it('keeps working while degraded (aliases are not gated)', async () => {
      const original = server.ctx.instances.isDegraded;
      server.ctx.instances.isDegraded = () => true;
      try {
        const res = await create(west.nodeId, { name: 'during-degraded' });
        assert.equal(res.status, 201);
        assert.equal((await server.api.delete(`/api/v1/aliases/${res.body.data.id}`)).status, 204);
      } finally {
        server.ctx.instances.isDegraded = original;
      }
    });

    describe('agent route', () => {
      it('creates an alias for the calling node: 201 {id, name, node_id}', async () => {
        const res = await west.client.post('/api/v1/agents/aliases', { name: 'from-agent' });
        assert.equal(res.status, 201);
        assert.deepEqual(Object.keys(res.body.data).sort(), ['id', 'name', 'node_id']);
        assert.equal(res.body.data.name, 'from-agent');
        assert.equal(res.body.data.node_id, west.nodeId);
        const admin = await server.api.get(`/api/v1/aliases/${res.body.data.id}`);
        assert.equal(admin.body.data.vpn_hostname, 'node-from-agent.cluster-prod-west.nm.internal');
      });

      it('answers 401 without a node token, 409 for a taken name, 400 for a bad name', async () => {
        assert.equal((await server.api.withToken(null).post('/api/v1/agents/aliases', { name: 'x' })).status, 401);
        assert.equal((await server.api.post('/api/v1/agents/aliases', { name: 'x' })).status, 401, 'admin keys are not node tokens');
        const taken = await west.client.post('/api/v1/agents/aliases', { name: 'from-agent' });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.error.message, 'name has already been taken');
        assert.equal((await west.client.post('/api/v1/agents/aliases', { name: '-bad' })).status, 400);
      });
    });
  });
}
