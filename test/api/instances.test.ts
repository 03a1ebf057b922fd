/**
 * Several instances on one database: a node's live channel is held by the instance it connected
 * to, and work created on any other instance reaches it through the node-channel seam (directory +
 * signal bus). On Postgres two in-process servers share one scratch database; SQLite stays one
 * instance (its bus is in-process), so there the same steps run against that one server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { StreamAgent, waitUntil } from '../helpers/stream-agent.ts';

/** Far below an agent's poll interval (2 min): the frame must come over the channel. */
const PROMPTLY_MS = 10_000;

for (const engine of testEngines()) {
  describe(`node channels across instances [${engine}]`, () => {
    /** `a` holds the agents' sockets; every admin action goes through `b`. */
    let a: TestServer;
    let b: TestServer;
    let cluster: { name: string };
    const streams: StreamAgent[] = [];

    async function connectedOnA(overrides: Record<string, unknown> = {}): Promise<{ agent: RegisteredAgent; stream: StreamAgent }> {
      const agent = await registerAgent(b.api, { cluster, ...overrides });
      const stream = await StreamAgent.connect(a, agent);
      streams.push(stream);
      // B learns where the channel is from the directory; wait until it does.
      await waitUntil(() => b.ctx.channels.isConnected(agent.nodeId));
      return { agent, stream };
    }

    function closeCode(stream: StreamAgent): Promise<number> {
      return new Promise((resolve) => stream.socket.once('close', (code) => resolve(code)));
    }

    before(async () => {
      const env = { NODEPLANE_SECRET_KEY: randomBytes(32).toString('base64'), SELF_UPDATE_ACK_TIMEOUT_MS: '600000' };
      a = await startServer(engine, env);
      b = engine === 'postgres' ? await startServer(engine, env, { databaseUrl: a.databaseUrl }) : a;
      // Background jobs (command fan-out, self-update triggers) run on B only, so the work really
      // starts on the instance that does not hold the socket.
      if (b !== a) await a.ctx.jobs.stop();
      cluster = await createCluster(b.api, { name: 'fleet' });
    });
    after(async () => {
      for (const s of streams) await s.close();
      if (b !== a) await b.stop();
      await a.stop();
    });

    it('runs as two instances on Postgres, one on SQLite', async () => {
      const instances = await b.ctx.database.db.selectFrom('instances').select('id').execute();
      assert.equal(instances.length, engine === 'postgres' ? 2 : 1);
    });

    it('a command created through B reaches the node connected to A at once', async () => {
      const { agent, stream } = await connectedOnA();
      const res = await b.api.post('/api/v1/commands', { command_text: 'uptime', targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
      assert.equal(res.status, 201, res.text);
      const frame = await stream.waitFor((f) => f.type === 'execution' && f.execution.command_id === res.body.data.id, PROMPTLY_MS);
      assert.equal(frame.execution.command_text, 'uptime');
      assert.equal(frame.execution.status, 'pending');
    });

    it('a command too large for one NOTIFY still arrives whole', async () => {
      const { agent, stream } = await connectedOnA();
      const text = `echo ${'x'.repeat(50_000)} ${'é'.repeat(5000)}`;
      const res = await b.api.post('/api/v1/commands', { command_text: text, targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
      assert.equal(res.status, 201, res.text);
      const frame = await stream.waitFor((f) => f.type === 'execution' && f.execution.command_id === res.body.data.id, PROMPTLY_MS);
      assert.equal(frame.execution.command_text, text);
    });

    it('a cancel through B of a sent execution reaches the agent on A (no 503)', async () => {
      const { agent, stream } = await connectedOnA();
      const created = await b.api.post('/api/v1/commands', { command_text: 'sleep 600', targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
      const { execution } = await stream.waitFor((f) => f.type === 'execution' && f.execution.command_id === created.body.data.id, PROMPTLY_MS);
      assert.equal((await agent.client.patch(`/api/v1/agents/command_executions/${execution.id}/acknowledge`)).status, 200);

      const res = await b.api.patch(`/api/v1/command_executions/${execution.id}/cancel`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.data, { result: 'cancellation request sent' });
      assert.deepEqual(await stream.waitFor((f) => f.type === 'cancel_execution', PROMPTLY_MS), { type: 'cancel_execution', id: execution.id });
    });

    it('a self-update triggered through B is acked by the node on A and counted triggered', async () => {
      const { agent, stream } = await connectedOnA({ self_update_enabled: true });
      stream.onFrame((frame) => {
        if (frame.type === 'self_update') stream.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: true });
      });
      const res = await b.api.post('/api/v1/self_update_requests', { targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
      assert.equal(res.status, 201, res.text);
      await b.ctx.jobs.drain(30_000);
      const request = (await b.api.get(`/api/v1/self_update_requests/${res.body.data.id}`)).body.data;
      assert.equal(request.status, 'completed');
      assert.deepEqual(request.summary, { total: 1, triggered: 1, failed: 0 });
    });

    // The ack deadline (10 min) is far past this test's timeout: only the close can answer in time.
    it(
      'a self-update through B of a node whose socket on A closes before answering counts it failed, without waiting for the deadline',
      { timeout: 60_000 },
      async () => {
        const { agent, stream } = await connectedOnA({ self_update_enabled: true });
        stream.onFrame((frame) => {
          if (frame.type === 'self_update') stream.socket.terminate();
        });
        const res = await b.api.post('/api/v1/self_update_requests', { targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
        await b.ctx.jobs.drain(30_000);
        const request = (await b.api.get(`/api/v1/self_update_requests/${res.body.data.id}`)).body.data;
        assert.deepEqual(request.summary, { total: 1, triggered: 0, failed: 1 });
      },
    );

    it('re-registration through B closes the old socket on A (4401) and A stops honouring the old token', async () => {
      const { agent, stream } = await connectedOnA();
      // A authenticated the token for the stream and caches it.
      const onA = new ApiClient(a.url, agent.apiToken);
      assert.equal((await onA.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);

      const closed = closeCode(stream);
      const started = Date.now();
      const again = await registerAgent(b.api, { cluster, node_id: agent.nodeId, token: agent.apiToken });
      assert.equal(await closed, 4401);
      const elapsed = Date.now() - started;
      assert.equal((await onA.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 401);

      // The new token's channel is not closed by the revocation of the old one.
      const fresh = await StreamAgent.connect(a, again);
      streams.push(fresh);
      assert.equal((await new ApiClient(a.url, again.apiToken).patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
      assert.equal(fresh.socket.readyState, fresh.socket.OPEN);
      console.log(`# [${engine}] socket on A closed ${elapsed} ms after re-registration through B`);
    });

    it('deleting the node through B closes its socket on A', async () => {
      const { agent, stream } = await connectedOnA();
      const closed = closeCode(stream);
      assert.equal((await b.api.delete(`/api/v1/nodes/${agent.nodeId}`)).status, 204);
      assert.equal(await closed, 4401);
      await waitUntil(async () => !(await b.ctx.channels.isConnected(agent.nodeId)));
    });
  });
}
