/**
 * Connection storm: emulated agents (written from edge-admin spec §6.4–6.5 and our stream protocol)
 * verify, register and open their live channel all at once against one server. All must register,
 * none may be refused, and every node must be healthy afterwards.
 *
 * This is a correctness test, not a load test: 200 agents by default so a busy 2-core machine passes
 * it comfortably. The 1,000-agent figure (time and peak RSS) is `bench/storm.ts`. Every socket has
 * its own deadline and is torn down in `after`, so a failure reports instead of hanging the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { joinTicket, registrationBody } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const AGENTS = Number(process.env.STORM_AGENTS ?? 200);
const SOCKET_DEADLINE_MS = 60_000;

function openChannel(url: string, token: string, sockets: Set<WebSocket>): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/api/v1/agents/stream`, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: SOCKET_DEADLINE_MS,
    });
    sockets.add(socket);
    const deadline = setTimeout(() => settle('no welcome frame in time'), SOCKET_DEADLINE_MS);
    function settle(outcome: string) {
      clearTimeout(deadline);
      resolve(outcome);
    }
    socket.once('message', (data) => settle(JSON.parse(data.toString()).type));
    socket.once('unexpected-response', (_q, r) => settle(`stream refused ${r.statusCode}`));
    socket.once('error', (e) => settle(`stream error ${e.message}`));
    socket.once('close', (code) => settle(`stream closed ${code}`));
  });
}

for (const engine of testEngines()) {
  describe(`connection storm: ${AGENTS} agents at once [${engine}]`, () => {
    let server: TestServer;
    const sockets = new Set<WebSocket>();
    before(async () => {
      server = await startServer(engine);
    });
    after(async () => {
      await Promise.all(
        [...sockets].map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              socket.once('close', () => resolve());
              socket.terminate();
            }),
        ),
      );
      await server.stop();
    });

    it('registers and connects every agent, refuses none, and all are healthy', { timeout: 180_000 }, async () => {
      const cluster = await createCluster(server.api, { ipv4_range: '100.100.0.0/20' });
      const started = performance.now();

      const outcomes = await Promise.all(
        Array.from({ length: AGENTS }, async () => {
          try {
            const ticket = await joinTicket(server.api, cluster.name);
            const res = await server.api.withToken(ticket).post('/api/v1/agents/nodes', registrationBody(cluster.name));
            if (res.status !== 201) return `registration ${res.status} ${res.text.slice(0, 100)}`;
            return await openChannel(server.url, res.body.data.api_token as string, sockets);
          } catch (error) {
            return `request failed: ${(error as Error).message}`;
          }
        }),
      );
      const elapsed = performance.now() - started;

      const failures = outcomes.filter((o) => o !== 'welcome');
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} agents failed`);
      assert.equal(server.ctx.agentHub.size, AGENTS);
      await server.ctx.nodes.flushLastSeen();
      const page = await server.api.get(`/api/v1/nodes?cluster_name=${cluster.name}&status=healthy&page_size=1`);
      assert.equal(page.body.meta.pagination.total_count, AGENTS);
      console.log(`storm [${engine}]: ${AGENTS} agents verified, registered and connected in ${(elapsed / 1000).toFixed(2)} s`);
    });
  });
}
