import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { nodeEvents, registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const streamUrl = (server: TestServer) => `${server.url.replace('http', 'ws')}/api/v1/agents/stream`;

/** Opens the stream as `token`; resolves with the socket and its first frame, or the HTTP refusal. */
function connect(server: TestServer, token: string): Promise<{ socket: WebSocket; first: any } | { refused: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(streamUrl(server), { headers: { authorization: `Bearer ${token}` } });
    socket.once('message', (data) => resolve({ socket, first: JSON.parse(data.toString()) }));
    socket.once('unexpected-response', (_req, res) => resolve({ refused: res.statusCode ?? 0 }));
    socket.once('error', reject);
  });
}

async function statusOf(server: TestServer, nodeId: string): Promise<string> {
  return (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data.status;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(25);
  }
}

for (const engine of testEngines()) {
  describe(`agent live stream and presence [${engine}]`, () => {
    let server: TestServer;
    let cluster: { name: string };
    before(async () => {
      server = await startServer(engine, {
        // Short enough to watch presence change, long enough that a loaded machine's event-loop
        // lag does not count as silence.
        AGENT_PING_INTERVAL_MS: '200',
        AGENT_HEALTH_INTERVAL_MS: '1000',
        NODE_UNREACHABLE_AFTER_MS: '2000',
        NODE_SWEEP_INTERVAL_MS: '100',
      });
      cluster = await createCluster(server.api);
    });
    after(() => server.stop());

    it('refuses a bad token with 401 before the upgrade', async () => {
      const result = await connect(server, 'not-a-token');
      assert.deepEqual(result, { refused: 401 });
    });

    it('welcomes a node by id and keeps it healthy past the silence threshold while connected', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const result = await connect(server, agent.apiToken);
      assert.ok('socket' in result);
      assert.deepEqual(result.first, { type: 'welcome', node_id: agent.nodeId, health_interval_ms: 1000 });
      await sleep(3500);
      assert.equal(await statusOf(server, agent.nodeId), 'healthy');
      const seen = (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data.last_seen_at;
      assert.ok(Date.now() - Date.parse(seen) < 3000, `last_seen_at ${seen} is kept fresh by pongs`);
      result.socket.close();
    });

    it('marks a silent node unreachable with status_changed, and healthy again when it reconnects', async () => {
      const agent = await registerAgent(server.api, { cluster });
      await waitFor(async () => (await statusOf(server, agent.nodeId)) === 'unreachable');
      const changed = (await nodeEvents(server.ctx, agent.nodeId)).filter((e) => e.type === 'edge.node.status_changed');
      assert.equal(changed.length, 1);
      assert.equal(changed[0]!.data.previous_status, 'healthy');
      assert.equal(changed[0]!.data.status, 'unreachable');

      const result = await connect(server, agent.apiToken);
      assert.ok('socket' in result);
      await waitFor(async () => (await statusOf(server, agent.nodeId)) === 'healthy');
      const back = (await nodeEvents(server.ctx, agent.nodeId)).filter((e) => e.type === 'edge.node.status_changed');
      assert.equal(back.at(-1)!.data.previous_status, 'unreachable');
      result.socket.close();
    });

    it('takes health frames: unhealthy is recorded, junk frames are ignored and the socket stays up', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const result = await connect(server, agent.apiToken);
      assert.ok('socket' in result);
      result.socket.send('{not json');
      result.socket.send(JSON.stringify({ type: 'health', status: 'on fire' }));
      result.socket.send(Buffer.from([0, 1, 2]), { binary: true });
      result.socket.send(JSON.stringify({ type: 'health', status: 'unhealthy' }));
      await waitFor(async () => (await statusOf(server, agent.nodeId)) === 'unhealthy');
      assert.equal(result.socket.readyState, WebSocket.OPEN);
      result.socket.close();
    });

    it('closes the channel when the token is revoked (re-registration or deletion)', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const first = await connect(server, agent.apiToken);
      assert.ok('socket' in first);
      const rotated = new Promise<number>((resolve) => first.socket.once('close', (code) => resolve(code)));
      const again = await registerAgent(server.api, { cluster, node_id: agent.nodeId, token: agent.apiToken });
      assert.equal(await rotated, 4401);
      assert.deepEqual(await connect(server, agent.apiToken), { refused: 401 }, 'the old token no longer opens a channel');

      const second = await connect(server, again.apiToken);
      assert.ok('socket' in second);
      const deleted = new Promise<number>((resolve) => second.socket.once('close', (code) => resolve(code)));
      assert.equal((await server.api.delete(`/api/v1/nodes/${agent.nodeId}`)).status, 204);
      assert.equal(await deleted, 4401);
    });

    it('a new connection of the same node replaces the old one', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const first = await connect(server, agent.apiToken);
      assert.ok('socket' in first);
      const closed = new Promise<number>((resolve) => first.socket.once('close', (code) => resolve(code)));
      const second = await connect(server, agent.apiToken);
      assert.ok('socket' in second);
      assert.equal(await closed, 4000);
      assert.ok(server.ctx.agentHub.isConnected(agent.nodeId));
      second.socket.close();
    });
  });
}
