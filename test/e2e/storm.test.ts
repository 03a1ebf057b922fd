/**
 * Connection storm: 1,000 emulated agents (written from edge-admin spec §6.4–6.5 and our stream
 * protocol) verify, register and open their live channel all at once against one server. All must
 * register, none may be refused, and every node must be healthy afterwards. Prints the time taken
 * and the peak RSS of the process (server and emulators share it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { joinTicket, registrationBody } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const AGENTS = Number(process.env.STORM_AGENTS ?? 1000);

for (const engine of testEngines()) {
  describe(`connection storm: ${AGENTS} agents at once [${engine}]`, () => {
    let server: TestServer;
    const sockets: WebSocket[] = [];
    before(async () => {
      server = await startServer(engine);
    });
    after(async () => {
      for (const s of sockets) s.terminate();
      await server.stop();
    });

    it('registers and connects every agent, refuses none, and all are healthy', async () => {
      const cluster = await createCluster(server.api, { ipv4_range: '100.100.0.0/20' });
      let peakRss = process.memoryUsage().rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
      const started = performance.now();

      const outcomes = await Promise.all(
        Array.from({ length: AGENTS }, async () => {
          const ticket = await joinTicket(server.api, cluster.name);
          const res = await server.api.withToken(ticket).post('/api/v1/agents/nodes', registrationBody(cluster.name));
          if (res.status !== 201) return `registration ${res.status} ${res.text.slice(0, 100)}`;
          const token = res.body.data.api_token as string;
          return new Promise<string>((resolve) => {
            const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/agents/stream`, { headers: { authorization: `Bearer ${token}` } });
            sockets.push(socket);
            socket.once('message', (data) => resolve(JSON.parse(data.toString()).type));
            socket.once('unexpected-response', (_q, r) => resolve(`stream refused ${r.statusCode}`));
            socket.once('error', (e) => resolve(`stream error ${e.message}`));
          });
        }),
      );
      const elapsed = performance.now() - started;
      clearInterval(sampler);

      const failures = outcomes.filter((o) => o !== 'welcome');
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} agents failed`);
      assert.equal(server.ctx.agentHub.size, AGENTS);
      await server.ctx.nodes.flushLastSeen();
      const page = await server.api.get(`/api/v1/nodes?cluster_name=${cluster.name}&status=healthy&page_size=1`);
      assert.equal(page.body.meta.pagination.total_count, AGENTS);
      console.log(`storm [${engine}]: ${AGENTS} agents verified, registered and connected in ${(elapsed / 1000).toFixed(2)} s; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    });
  });
}
