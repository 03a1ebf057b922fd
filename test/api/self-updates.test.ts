import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { eventsOf, StreamAgent, waitUntil } from '../helpers/stream-agent.ts';

const ACK_TIMEOUT_MS = 600;

for (const engine of testEngines()) {
  describe(`self-update requests [${engine}]`, () => {
    let server: TestServer;
    /** Enabled, connected; accept / refuse / never answer / answer with a malformed frame. */
    let accepts: RegisteredAgent, refuses: RegisteredAgent, silent: RegisteredAgent, garbled: RegisteredAgent;
    /** Enabled but not connected; disabled but connected; enabled but unhealthy. */
    let offline: RegisteredAgent, disabled: RegisteredAgent, unhealthy: RegisteredAgent;
    const streams: StreamAgent[] = [];

    async function connect(agent: RegisteredAgent, answer?: (frame: any, stream: StreamAgent) => void) {
      const stream = await StreamAgent.connect(server, agent);
      if (answer) stream.onFrame((frame) => frame.type === 'self_update' && answer(frame, stream));
      streams.push(stream);
      return stream;
    }

    /** Creates a request, waits for the job, returns the completed request. */
    async function processed(targeting: unknown) {
      const res = await server.api.post('/api/v1/self_update_requests', { targeting });
      assert.equal(res.status, 201, res.text);
      await server.ctx.jobs.drain(10_000);
      return (await server.api.get(`/api/v1/self_update_requests/${res.body.data.id}`)).body.data;
    }

    before(async () => {
      server = await startServer(engine, { SELF_UPDATE_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) });
      const prod = await createCluster(server.api, { name: 'prod' });
      const edge = await createCluster(server.api, { name: 'edge' });
      accepts = await registerAgent(server.api, { cluster: prod, self_update_enabled: true, version: '1.0.0' });
      refuses = await registerAgent(server.api, { cluster: prod, self_update_enabled: true });
      silent = await registerAgent(server.api, { cluster: edge, self_update_enabled: true });
      garbled = await registerAgent(server.api, { cluster: edge, self_update_enabled: true });
      offline = await registerAgent(server.api, { cluster: edge, self_update_enabled: true });
      disabled = await registerAgent(server.api, { cluster: prod, self_update_enabled: false });
      unhealthy = await registerAgent(server.api, { cluster: prod, self_update_enabled: true });
      await unhealthy.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });

      await connect(accepts, (frame, s) => {
        s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: true });
        s.send({ type: 'self_update_result', self_update_request_id: frame.self_update_request_id, status: 'succeeded', exit_code: 0, output: 'updated' });
      });
      await connect(refuses, (frame, s) =>
        s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: false, reason: 'self-update is disabled here' }),
      );
      await connect(silent);
      await connect(garbled, (frame, s) => {
        s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: 'yes' });
        s.send({ type: 'self_update_ack', self_update_request_id: 'not-a-uuid', accepted: true });
        s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: true, reason: 42 });
      });
      await connect(disabled, (frame, s) => s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: true }));
      await connect(unhealthy, (frame, s) => s.send({ type: 'self_update_ack', self_update_request_id: frame.self_update_request_id, accepted: true }));
      // Connecting marks a node healthy; once that landed, report unhealthy again over the stream.
      const statusOf = async () => (await server.api.get(`/api/v1/nodes/${unhealthy.nodeId}`)).body.data.status;
      await waitUntil(async () => (await statusOf()) === 'healthy');
      streams.at(-1)!.send({ type: 'health', status: 'unhealthy' });
      await waitUntil(async () => (await statusOf()) === 'unhealthy');
    });
    after(async () => {
      for (const s of streams) await s.close();
      await server.stop();
    });

    it('creates a pending request (201, location) and processes it in the background', async () => {
      await server.ctx.jobs.stop();
      let created: any;
      try {
        const res = await server.api.post('/api/v1/self_update_requests', { targeting: { type: 'all', node_filters: { version: '1.*' } } });
        assert.equal(res.status, 201, res.text);
        created = res.body.data;
        assert.equal(res.headers.get('location'), `/api/v1/self_update_requests/${created.id}`);
        assert.deepEqual(created, {
          id: created.id,
          targeting: { type: 'all', node_filters: { version: '1.*' } },
          status: 'pending',
          summary: null,
          inserted_at: created.inserted_at,
          updated_at: created.updated_at,
        });

        const pendingDelete = await server.api.delete(`/api/v1/self_update_requests/${created.id}`);
        assert.equal(pendingDelete.status, 409);
        assert.deepEqual(pendingDelete.body.error, {
          code: 'conflict',
          message: "cannot delete self-update request with status 'pending' - only completed requests can be deleted",
        });
      } finally {
        server.ctx.jobs.start();
      }
      await server.ctx.jobs.drain(10_000);
      const done = (await server.api.get(`/api/v1/self_update_requests/${created.id}`)).body.data;
      assert.equal(done.status, 'completed');
    });

    it('triggers only healthy, enabled nodes; counts accepted acks as triggered and everything else as failed', async () => {
      const started = Date.now();
      const request = await processed({ type: 'all', node_filters: { status: 'unhealthy' } });
      assert.ok(Date.now() - started < ACK_TIMEOUT_MS + 3000, 'bounded by the ack timeout');
      // accepts ✓; refuses, silent (timeout), garbled (no valid ack), offline (no channel) ✗; the forced filters win over status=unhealthy.
      assert.deepEqual(request.summary, { total: 5, triggered: 1, failed: 4 });
      assert.equal(request.status, 'completed');

      const triggered = (await eventsOf(server, 'edge.node.update_triggered')).filter((e) => e.data.self_update_request_id === request.id);
      assert.deepEqual(
        triggered.map((e) => e.data.node_id),
        [accepts.nodeId],
      );
      assert.equal(triggered[0]!.data.cluster_name, 'prod');
      assert.equal(triggered[0]!.data.self_update_enabled, true);
      assert.equal(triggered[0]!.data.version, '1.0.0');

      const completed = (await eventsOf(server, 'edge.self_update_request.completed')).filter((e) => e.data.self_update_request_id === request.id);
      assert.equal(completed.length, 1);
      assert.deepEqual(completed[0]!.data, {
        self_update_request_id: request.id,
        status: 'completed',
        targeting: { type: 'all', node_filters: { status: 'unhealthy' } },
        summary: { total: 5, triggered: 1, failed: 4 },
        inserted_at: request.inserted_at,
        updated_at: request.updated_at,
      });
    });

    it('resolves nodes and clusters targeting with the same forced filters', async () => {
      const byNodes = await processed({ type: 'nodes', node_ids: [accepts.nodeId, disabled.nodeId, unhealthy.nodeId, randomUUID()] });
      assert.deepEqual(byNodes.summary, { total: 1, triggered: 1, failed: 0 });
      const byCluster = await processed({ type: 'clusters', cluster_names: ['prod'] });
      assert.deepEqual(byCluster.summary, { total: 2, triggered: 1, failed: 1 });
      const nothing = await processed({ type: 'clusters', cluster_names: ['nope'] });
      assert.deepEqual(nothing.summary, { total: 0, triggered: 0, failed: 0 });
      assert.equal(nothing.status, 'completed');
    });

    it('answers the agent check for the newest request', async () => {
      const newest = await processed({ type: 'clusters', cluster_names: ['prod'], node_filters: { version: '1.0.0' } });
      const mine = await accepts.client.get('/api/v1/agents/self_updates/check');
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.data, { including_me: true, inserted_at: newest.inserted_at });
      for (const other of [refuses, disabled, unhealthy, silent]) {
        assert.deepEqual((await other.client.get('/api/v1/agents/self_updates/check')).body.data, { including_me: false, inserted_at: newest.inserted_at });
      }
      assert.equal((await accepts.client.get('/api/v1/agents/self_updates/check?force=1')).status, 400);
      assert.equal((await server.api.get('/api/v1/agents/self_updates/check')).status, 401);
    });

    it('a node without a live channel fails the push but learns of the request through the check', async () => {
      const request = await processed({ type: 'nodes', node_ids: [offline.nodeId] });
      assert.deepEqual(request.summary, { total: 1, triggered: 0, failed: 1 });
      assert.deepEqual((await offline.client.get('/api/v1/agents/self_updates/check')).body.data, { including_me: true, inserted_at: request.inserted_at });
    });

    it('lists with status filter and sorting, gets one, deletes only completed ones', async () => {
      const all = await server.api.get('/api/v1/self_update_requests?status=completed&order_by=inserted_at&order_directions=asc&page_size=100');
      assert.equal(all.status, 200);
      assert.ok(all.body.data.length >= 5, `${all.body.data.length} completed requests`);
      const times = all.body.data.map((r: any) => r.inserted_at);
      assert.deepEqual(times, [...times].sort());
      assert.equal((await server.api.get('/api/v1/self_update_requests?status=processing')).body.meta.pagination.total_count, 0);
      assert.equal((await server.api.get('/api/v1/self_update_requests?status=failed')).status, 400);
      assert.equal((await server.api.get('/api/v1/self_update_requests?order_by=status')).status, 200);

      const first = all.body.data[0];
      assert.deepEqual((await server.api.get(`/api/v1/self_update_requests/${first.id}`)).body.data, first);
      assert.equal((await server.api.delete(`/api/v1/self_update_requests/${first.id}`)).status, 204);
      assert.equal((await server.api.get(`/api/v1/self_update_requests/${first.id}`)).status, 404);
      assert.equal((await server.api.delete(`/api/v1/self_update_requests/${first.id}`)).status, 404);
      assert.equal((await server.api.get('/api/v1/self_update_requests/bad')).status, 400);
    });

    it('validates: 422 for missing ids/names, 400 for schema violations', async () => {
      const missing = await server.api.post('/api/v1/self_update_requests', { targeting: { type: 'nodes' } });
      assert.equal(missing.status, 422);
      assert.deepEqual(missing.body.error.details, { node_ids: ["is required when targeting_type is 'nodes'"] });
      const noNames = await server.api.post('/api/v1/self_update_requests', { targeting: { type: 'clusters', cluster_names: [] } });
      assert.deepEqual(noNames.body.error.details, { cluster_names: ["is required when targeting_type is 'clusters'"] });
      for (const body of [
        {},
        { targeting: { type: 'some' } },
        { targeting: { type: 'all', node_filters: { foo: 1 } } },
        { targeting: { type: 'all' }, force: true },
      ]) {
        assert.equal((await server.api.post('/api/v1/self_update_requests', body)).status, 400, JSON.stringify(body));
      }
    });

    it('is refused with 503 while degraded', async () => {
      const original = server.ctx.instances.isDegraded;
      server.ctx.instances.isDegraded = () => true;
      try {
        const res = await server.api.post('/api/v1/self_update_requests', { targeting: { type: 'all' } });
        assert.equal(res.status, 503);
        assert.equal(res.body.error.code, 'degraded_mode');
        assert.equal((await server.api.get('/api/v1/self_update_requests')).status, 200);
      } finally {
        server.ctx.instances.isDegraded = original;
      }
    });

    it('counts a node whose channel closes before it answers as failed without waiting for the timeout', async () => {
      const leaving = await registerAgent(server.api, { cluster: 'edge', self_update_enabled: true });
      const stream = await StreamAgent.connect(server, leaving);
      stream.onFrame((frame) => frame.type === 'self_update' && void stream.close());
      const res = await server.api.post('/api/v1/self_update_requests', { targeting: { type: 'nodes', node_ids: [leaving.nodeId] } });
      const started = Date.now();
      await server.ctx.jobs.drain(10_000);
      assert.ok(Date.now() - started < ACK_TIMEOUT_MS, `took ${Date.now() - started} ms`);
      assert.deepEqual((await server.api.get(`/api/v1/self_update_requests/${res.body.data.id}`)).body.data.summary, { total: 1, triggered: 0, failed: 1 });
    });
  });
}
