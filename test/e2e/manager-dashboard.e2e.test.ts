/**
 * The dashboard stream on the manager listener: an operator's session cookie opens it and it shows
 * the connected emulated edge with its driver metrics; no cookie is a 401, a foreign Origin a 403,
 * and a viewer restricted to one node sees only that node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { bilbycastEdge } from '../helpers/bilbycast-edge.ts';
import { nextAddress, PASSWORD } from '../helpers/operators.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

for (const engine of testEngines()) {
  describe(`manager dashboard stream [${engine}]`, () => {
    let server: TestServer;
    const running: Array<{ stop(): Promise<void> }> = [];
    const sockets: WebSocket[] = [];

    const sessionOf = async (body: Record<string, unknown>) => {
      const username = `op-${Math.random().toString(36).slice(2, 8)}`;
      const created = await server.managerApi.post('/api/v1/users', { username, password: PASSWORD, display_name: 'Op', ...body });
      assert.equal(created.status, 201, created.text);
      const res = await server.managerApi
        .withToken(null)
        .request('POST', '/api/v1/auth/login', { body: { username, password: PASSWORD }, headers: { 'x-forwarded-for': nextAddress() } });
      assert.equal(res.status, 200, res.text);
      return /session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
    };
    const connectedEdge = async () => {
      const node = (await server.managerApi.post('/api/v1/nodes', { name: `n-${Math.random().toString(36).slice(2, 8)}` })).body;
      const edge = bilbycastEdge(
        { urls: [`${server.managerUrl.replace('https', 'wss')}/ws/node`], ca: server.managerCert, registration_token: node.registration_token },
        {
          statsIntervalMs: 100,
        },
      );
      running.push(edge);
      assert.deepEqual(await edge.connect(), { type: 'register_ack' });
      return node;
    };
    const open = (headers: Record<string, string>) => {
      const socket = new WebSocket(`${server.managerUrl.replace('https', 'wss')}/ws/dashboard`, { ca: server.managerCert, headers });
      sockets.push(socket);
      return socket;
    };
    const refusal = (socket: WebSocket) =>
      new Promise<number>((resolve, reject) => {
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => reject(new Error('upgraded')));
        socket.on('error', () => {});
      });
    /** The first update matching `match` (waits only bound a failure). */
    const updateWhere = (socket: WebSocket, match: (update: any) => boolean) =>
      new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching dashboard_update')), 10_000);
        socket.on('message', (data) => {
          const update = JSON.parse(String(data));
          if (update.type === 'dashboard_update' && match(update)) {
            clearTimeout(timer);
            resolve(update);
          }
        });
      });

    before(async () => {
      server = await startServer(engine);
      const saved = await server.managerApi.put('/api/v1/settings', { settings: { stats_broadcast_interval_ms: 100 } });
      assert.equal(saved.status, 200, saved.text);
    });
    after(async () => {
      for (const socket of sockets) socket.terminate();
      for (const node of running) await node.stop();
      await server.stop();
    });

    it('shows the connected edge with its stats and driver metrics to an operator', async () => {
      const session = await sessionOf({ role: 'operator' });
      const node = await connectedEdge();
      const socket = open({ cookie: `session=${session}` });
      const update = await updateWhere(socket, (u) => u.nodes.some((n: any) => n.node_id === node.id && n.stats !== null));
      const entry = update.nodes.find((n: any) => n.node_id === node.id);
      assert.equal(update.online_count, update.nodes.length);
      assert.equal(entry.name, node.name);
      assert.equal(entry.device_type, 'edge');
      assert.equal(entry.status, 'online');
      assert.equal(typeof entry.uptime_secs, 'number');
      assert.ok(Array.isArray(entry.driver_metrics.metrics));
      assert.ok(entry.driver_metrics.metrics.some(([name]: [string]) => name === 'active_flows'));
    });

    it('refuses the upgrade without a session cookie (401), with a bearer only (401) and from a foreign Origin (403)', async () => {
      assert.equal(await refusal(open({})), 401);
      assert.equal(await refusal(open({ authorization: `Bearer ${server.masterKey}` })), 401);
      const session = await sessionOf({ role: 'viewer' });
      assert.equal(await refusal(open({ cookie: `session=${session}`, origin: 'https://evil.example' })), 403);
    });

    it('shows a viewer restricted to one node only that node', async () => {
      const mine = await connectedEdge();
      const other = await connectedEdge();
      const session = await sessionOf({ role: 'viewer', allowed_node_ids: [mine.id] });
      const everyone = open({ cookie: `session=${await sessionOf({ role: 'viewer' })}` });
      await updateWhere(everyone, (u) => u.nodes.some((n: any) => n.node_id === other.id));
      const socket = open({ cookie: `session=${session}`, origin: server.managerUrl });
      const update = await updateWhere(socket, (u) => u.nodes.length > 0);
      assert.deepEqual(
        update.nodes.map((n: any) => n.node_id),
        [mine.id],
      );
      assert.equal(update.online_count, 1);
    });
  });
}
