/**
 * Who a request is, face by face: the boot keys on the Admin API (API key, metrics key, master key
 * everywhere), an edge agent's token on the agents face (and only there), a Core node's auth key on
 * /node (and only there), and public routes that need no credential and ignore a wrong one. Each
 * caller is told apart by what it may do and by which node a node-scoped answer is about.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type ApiResponse, type TestServer } from '../helpers/server.ts';
import { createCluster } from '../helpers/factories.ts';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createNode, NodeClient, registeredNode } from '../helpers/vpn-admin.ts';

const API_KEY = 'api-key-for-principals-test';
const METRICS_KEY = 'metrics-key-for-principals-test';

function assertAdmin401(res: ApiResponse, what: string) {
  assert.equal(res.status, 401, `${what}: ${res.status} ${res.text}`);
  assert.equal(res.body.error.code, 'unauthorized', what);
  assert.equal(res.body.error.message, 'Unauthorized', what);
  assert.equal(typeof res.body.meta.request_id, 'string', what);
}

function assertCore401(res: ApiResponse, what: string) {
  assert.equal(res.status, 401, `${what}: ${res.status} ${res.text}`);
  assert.deepEqual(res.body, { statusCode: 401, message: 'Invalid or missing node auth key', error: 'Unauthorized' }, what);
}

for (const engine of testEngines()) {
  describe(`principals [${engine}]`, () => {
    let server: TestServer;
    let east: RegisteredAgent;
    let west: RegisteredAgent;

    before(async () => {
      server = await startServer(engine, { API_KEY, METRICS_KEY });
      const cluster = await createCluster(server.api);
      east = await registerAgent(server.api, { cluster });
      west = await registerAgent(server.api, { cluster });
    });
    after(() => server?.stop());

    it('admits the API key to the Admin API and the metrics key to the metrics routes, the master key to both', async () => {
      const as = (token: string | null) => server.api.withToken(token);
      const adminRoute = '/api/v1/clusters';
      const metricsRoutes = ['/metrics', `/api/v1/nodes/${east.nodeId}/metrics`];

      assert.equal((await as(API_KEY).get(adminRoute)).status, 200);
      assert.equal((await as(server.masterKey).get(adminRoute)).status, 200);
      assertAdmin401(await as(METRICS_KEY).get(adminRoute), 'metrics key on the Admin API');
      assertAdmin401(await as(null).get(adminRoute), 'no key on the Admin API');

      for (const route of metricsRoutes) {
        assert.equal((await as(METRICS_KEY).get(route)).status, 200, route);
        assert.equal((await as(server.masterKey).get(route)).status, 200, route);
        assertAdmin401(await as(API_KEY).get(route), `API key on ${route}`);
      }
    });

    it('reads the key only from a well-formed Bearer header', async () => {
      for (const authorization of [`bearer ${API_KEY}`, `Bearer  ${API_KEY}`, `Bearer ${API_KEY}, Bearer ${API_KEY}`, `Basic ${API_KEY}`, API_KEY, 'Bearer ']) {
        assertAdmin401(await server.api.withToken(null).get('/api/v1/clusters', { authorization }), JSON.stringify(authorization));
      }
    });

    it("answers an agent's node-scoped calls about the calling node only", async () => {
      const command = await server.api.post('/api/v1/commands', { command_text: 'echo east', targeting: { type: 'nodes', node_ids: [east.nodeId] } });
      assert.equal(command.status, 201, command.text);
      // Executions are created by a job; wait for it the way the command tests do.
      await server.ctx.jobs.drain();

      const mine = await east.client.get('/api/v1/agents/command_executions?status=pending');
      assert.equal(mine.status, 200, mine.text);
      assert.deepEqual(
        mine.body.data.map((e: { command_text: string }) => e.command_text),
        ['echo east'],
      );
      const theirs = await west.client.get('/api/v1/agents/command_executions?status=pending');
      assert.equal(theirs.status, 200, theirs.text);
      assert.deepEqual(theirs.body.data, []);

      // West cannot claim east's execution: the node is the caller, not a field of the request.
      const claimed = await west.client.request('PATCH', `/api/v1/agents/command_executions/${mine.body.data[0].id}/acknowledge`);
      assert.ok(claimed.status >= 400 && claimed.status < 500, `${claimed.status} ${claimed.text}`);
      const own = await east.client.request('PATCH', `/api/v1/agents/command_executions/${mine.body.data[0].id}/acknowledge`);
      assert.equal(own.status, 200, own.text);
    });

    it('keeps agent tokens and boot keys each on their own face', async () => {
      assertAdmin401(await east.client.get('/api/v1/clusters'), 'agent token on the Admin API');
      assertAdmin401(await east.client.get('/metrics'), 'agent token on /metrics');
      // The agents face has its own authenticator: no boot key is a node.
      for (const key of [server.masterKey, API_KEY, METRICS_KEY]) {
        assertAdmin401(await server.api.withToken(key).get('/api/v1/agents/self_updates/check'), 'boot key on the agents face');
      }
      assert.equal((await east.client.get('/api/v1/agents/self_updates/check')).status, 200);
      assertCore401(await new NodeClient(server.api, east.apiToken).post('/heartbeat', {}), 'agent token on /node');
    });

    it("admits a Core node's auth key on /node as that node, and nowhere else", async () => {
      const one = await registeredNode(server.api);
      const other = await createNode(server.api);

      const beat = await one.client.post('/heartbeat', {});
      assert.equal(beat.status, 200, beat.text);
      const seen = await server.api.get(`/api/v1/vpn/nodes/${one.node.id}`);
      const unseen = await server.api.get(`/api/v1/vpn/nodes/${other.id}`);
      assert.equal(seen.body.data.status, 'online');
      assert.equal(unseen.body.data.status, 'pending');

      assertCore401(await new NodeClient(server.api, null).post('/heartbeat', {}), 'no key on /node');
      assertCore401(await new NodeClient(server.api, server.masterKey).post('/heartbeat', {}), 'master key as a node key');
      assertAdmin401(await server.api.withToken(one.authKey).get('/api/v1/agents/self_updates/check'), 'Core key on the agents face');
      assertAdmin401(await server.api.withToken(one.authKey).get('/api/v1/clusters'), 'Core key on the Admin API');
    });

    it('serves public routes without a credential, and ignores a wrong one there', async () => {
      for (const token of [null, 'not-a-key']) {
        const client = server.api.withToken(token);
        assert.equal((await client.get('/health')).status, 200);
        assert.equal((await client.get('/openapi.json')).status, 200);
        const verify = await client.post('/api/v1/agents/enrollment_keys/verify', { key: 'no-such-key' });
        assert.equal(verify.status, 200, verify.text);
        assert.equal(verify.body.data.verified, false);
        const sub = await client.get('/sub/00000000-0000-4000-8000-000000000000');
        assert.equal(sub.status, 404);
        assert.equal(sub.text, 'Not Found');
      }
    });
  });
}
