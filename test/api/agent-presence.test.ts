/**
 * Presence over the live channel: a closed channel makes the node unreachable after a short grace
 * (not after the silence threshold), a reconnect or report within the grace changes nothing, and a
 * node flapping its status over the channel produces a bounded number of status_changed events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeEvents, registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { StreamAgent, waitUntil } from '../helpers/stream-agent.ts';

const GRACE_MS = 1500;
const DEBOUNCE_MS = 1000;

for (const engine of testEngines()) {
  describe(`agent presence over the live channel [${engine}]`, () => {
    let server: TestServer;
    let cluster: { name: string };
    const streams: StreamAgent[] = [];
    const connect = async (agent: Awaited<ReturnType<typeof registerAgent>>) => {
      const stream = await StreamAgent.connect(server, agent);
      streams.push(stream);
      return stream;
    };
    const statusOf = async (nodeId: string) => (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data.status as string;
    const statusChanges = async (nodeId: string) => (await nodeEvents(server.ctx, nodeId)).filter((e) => e.type === 'edge.node.status_changed');

    before(async () => {
      server = await startServer(engine, {
        // The silence sweep stays out of the way: only the channel grace can act within a test.
        NODE_UNREACHABLE_AFTER_MS: '600000',
        NODE_CHANNEL_GRACE_MS: String(GRACE_MS),
        NODE_STATUS_DEBOUNCE_MS: String(DEBOUNCE_MS),
      });
      cluster = await createCluster(server.api);
    });
    after(async () => {
      for (const stream of streams) await stream.close();
      await server.stop();
    });

    it('marks a node unreachable shortly after its channel closes, with one status_changed', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const stream = await connect(agent);
      await stream.close();
      await waitUntil(async () => (await statusOf(agent.nodeId)) === 'unreachable', 15_000);
      const changes = await statusChanges(agent.nodeId);
      assert.equal(changes.length, 1);
      assert.equal(changes[0]!.data.previous_status, 'healthy');
      assert.equal(changes[0]!.data.status, 'unreachable');
    });

    it('keeps a node healthy that reconnects within the grace', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const first = await connect(agent);
      await first.close();
      await connect(agent);
      await sleep(GRACE_MS * 2);
      assert.equal(await statusOf(agent.nodeId), 'healthy');
      assert.deepEqual(await statusChanges(agent.nodeId), []);
    });

    it('keeps a node healthy that reports over HTTP after its channel closed', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const stream = await connect(agent);
      await stream.close();
      assert.equal((await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
      await sleep(GRACE_MS * 2);
      assert.equal(await statusOf(agent.nodeId), 'healthy');
      assert.deepEqual(await statusChanges(agent.nodeId), []);
    });

    it('bounds status_changed events of a node flapping over its channel; the last one says where it settled', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const stream = await connect(agent);
      const frames = 2001;
      for (let i = 0; i < frames; i++) stream.send({ type: 'health', status: i % 2 === 0 ? 'unhealthy' : 'healthy' });

      // It settles on the last frame's status; then nothing more is emitted.
      await waitUntil(async () => (await statusChanges(agent.nodeId)).at(-1)?.data.status === 'unhealthy', 20_000);
      await sleep(DEBOUNCE_MS * 2);
      const changes = await statusChanges(agent.nodeId);
      assert.ok(changes.length >= 1 && changes.length <= 4, `${changes.length} status_changed events for ${frames} frames`);
      assert.equal(changes.at(-1)!.data.status, 'unhealthy');
      assert.equal(await statusOf(agent.nodeId), 'unhealthy');
      assert.equal(stream.socket.readyState, stream.socket.OPEN);
    });
  });
}
