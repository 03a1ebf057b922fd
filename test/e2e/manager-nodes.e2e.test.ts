/**
 * Bilbycast edge and relay nodes on the manager face, over real wss:// to the manager listener:
 * REST node management in the manager's shapes, the /ws/node handshake (register, reconnect,
 * lockout, expiry, empty payload, timeout), health and events, one session per node, oversized
 * frames, disconnects and deletes, node scope, /health and the manager's security headers.
 */
import { eventually } from '../helpers/eventually.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { bilbycastEdge } from '../helpers/bilbycast-edge.ts';
import { bilbycastRelay } from '../helpers/bilbycast-relay.ts';
import type { ManagerBlock } from '../helpers/bilbycast-node.ts';
import { createOperator, loginAs } from '../helpers/operators.ts';
import { managerRepo } from '../../src/server/modules/manager/manager.repo.ts';

const WEBHOOK_SECRET = 'manager-node-event-webhook-secret-32+chars';

for (const engine of testEngines()) {
  describe(`manager nodes over wss [${engine}]`, () => {
    let server: TestServer;
    const running: Array<{ stop(): Promise<void> }> = [];
    const block = (extra: Partial<ManagerBlock> = {}): ManagerBlock => ({
      urls: [`${server.managerUrl.replace('https', 'wss')}/ws/node`],
      ca: server.managerCert,
      ...extra,
    });
    const track = <T extends { stop(): Promise<void> }>(node: T) => (running.push(node), node);
    const createNode = async (body: Record<string, unknown> = {}) => {
      const res = await server.managerApi.post('/api/v1/nodes', { name: `node-${Math.random().toString(36).slice(2, 8)}`, ...body });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const events = (nodeId: string) => managerRepo.eventsOf(server.ctx.database.db, nodeId);
    const registered = async (extra: Partial<ManagerBlock> = {}) => {
      const node = await createNode();
      const edge = track(bilbycastEdge(block({ registration_token: node.registration_token, ...extra }), { statsIntervalMs: 200 }));
      assert.deepEqual(await edge.connect(), { type: 'register_ack' });
      return { node, edge };
    };

    before(async () => {
      server = await startServer(engine, {
        MANAGER_AUTH_TIMEOUT_MS: '500',
        AGENT_PING_INTERVAL_MS: '200',
        WEBHOOK_ALLOW_PRIVATE_IPS: 'true',
        MANAGER_STATS_SAMPLE_MS: '300',
      });
    });
    after(async () => {
      for (const node of running) await node.stop();
      await server.stop();
    });

    it('answers /health publicly with the manager security headers, and errors as {"error"}', async () => {
      const health = await server.managerApi.withToken(null).get('/health');
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { status: 'ok', service: 'bilbycast-manager', version: '0.1.0', self_signed_cert: true });
      assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(health.headers.get('x-frame-options'), 'DENY');
      assert.equal(health.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains');
      const anonymous = await server.managerApi.withToken(null).get('/api/v1/nodes');
      assert.equal(anonymous.status, 401);
      assert.deepEqual(anonymous.body, { error: 'Unauthorized' });
      assert.equal(anonymous.headers.get('x-frame-options'), 'DENY');
      const unknown = await server.managerApi.get('/api/v1/no-such-route');
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body, { error: 'Not found' });
    });

    it('creates nodes in the manager shape and refuses an unknown device type', async () => {
      const node = await createNode({ description: 'rack 3' });
      assert.equal(node.device_type, 'edge');
      assert.equal(node.status, 'pending');
      assert.equal(node.description, 'rack 3');
      assert.match(node.registration_token, /^[0-9a-f-]{36}$/);
      const read = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
      assert.equal(read.status, 200);
      assert.equal(read.body.registration_token, undefined);
      const bad = await server.managerApi.post('/api/v1/nodes', { name: 'x', device_type: 'toaster' });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body, { error: 'unknown device type: toaster' });
      const relays = await server.managerApi.get('/api/v1/nodes?device_type=relay');
      assert.ok(relays.body.every((n: any) => n.device_type === 'relay'));
    });

    it('registers with the token, continues on the same socket, and shows health in the node and the fleet', async () => {
      const { node, edge } = await registered();
      assert.equal(edge.nodeId, node.id);
      assert.match(edge.manager.node_secret!, /^[0-9a-f-]{36}$/);
      const online = await eventually(async () => {
        const res = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
        return res.body.last_health ? res.body : undefined;
      });
      assert.equal(online.status, 'online');
      assert.equal(online.software_version, '0.106.0');
      assert.equal(online.last_health.status, 'ok');
      assert.ok(online.last_seen_at);
      const fleet = await server.api.get(`/api/v1/fleet/${node.id}`);
      assert.equal(fleet.status, 200);
      assert.equal(fleet.body.data.kind, 'manager-edge');
      assert.equal(fleet.body.data.status, 'online');
      assert.equal(fleet.body.data.version, '0.106.0');
      const connected = (await events(node.id)).find((e) => e.category === 'connection');
      assert.equal(connected?.message, 'Node connected to manager');
      assert.equal(connected?.severity, 'info');
      // Stats stay in memory, latest per node.
      await eventually(async () => server.ctx.manager.sessions.latestStats().get(node.id));
    });

    it('reconnects with node id and secret (auth_ok); the token is single-use', async () => {
      const { node, edge } = await registered();
      await edge.stop();
      assert.deepEqual(await edge.connect(), { type: 'auth_ok' });
      const again = track(bilbycastEdge(block({ registration_token: node.registration_token })));
      assert.deepEqual(await again.connect(), { type: 'auth_error', message: 'Invalid registration token' });
    });

    it('registers a relay as kind manager-relay', async () => {
      const node = await createNode({ device_type: 'relay' });
      const relay = track(bilbycastRelay(block({ registration_token: node.registration_token })));
      assert.deepEqual(await relay.connect(), { type: 'register_ack' });
      const fleet = await eventually(async () => {
        const res = await server.api.get(`/api/v1/fleet/${node.id}`);
        return res.body.data.status === 'online' ? res.body.data : undefined;
      });
      assert.equal(fleet.kind, 'manager-relay');
      // Relays speak protocol 1: no compatibility warning for them.
      assert.equal((await events(node.id)).filter((e) => e.category === 'compatibility').length, 0);
    });

    it('records a compatibility warning for another protocol version, without refusing', async () => {
      const node = await createNode();
      const old = track(bilbycastEdge(block({ registration_token: node.registration_token }), {}, { protocolVersion: 2 }));
      assert.deepEqual(await old.connect(), { type: 'register_ack' });
      const warning = await eventually(async () => (await events(node.id)).find((e) => e.category === 'compatibility'));
      assert.equal(warning.severity, 'warning');
    });

    it('locks a node id out after 5 wrong secrets, even for the right secret', async () => {
      const { node, edge } = await registered();
      await edge.stop();
      for (let i = 0; i < 5; i++) {
        const wrong = bilbycastEdge(block({ node_id: node.id, node_secret: `wrong-${i}` }));
        assert.deepEqual(await wrong.connect(), { type: 'auth_error', message: 'Invalid node secret' });
      }
      const reply = await edge.connect();
      assert.equal(reply.type, 'auth_error');
      assert.match((reply as { message: string }).message, /Too many failed authentication attempts/);
    });

    it('refuses a node that does not exist, an empty payload, and an expired node', async () => {
      const ghost = bilbycastEdge(block({ node_id: '018f3c1e-0000-7000-8000-000000000000', node_secret: 'x' }));
      assert.deepEqual(await ghost.connect(), { type: 'auth_error', message: 'Node not registered' });
      const empty = bilbycastEdge(block());
      assert.deepEqual(await empty.connect(), { type: 'auth_error', message: 'Missing node_id in auth payload' });
      assert.equal(await empty.closed(), 1008);

      const node = await createNode({ expires_at: new Date(Date.now() + 1500).toISOString() });
      const edge = track(bilbycastEdge(block({ registration_token: node.registration_token })));
      assert.deepEqual(await edge.connect(), { type: 'register_ack' });
      await edge.stop();
      const refused = await eventually(async () => {
        const reply = await edge.connect();
        if (reply.type === 'auth_ok') await edge.stop();
        return reply.type === 'auth_error' ? reply : undefined;
      });
      assert.equal(refused.message, 'Node has expired');
    });

    it('closes a socket that sends no auth frame in time, with auth_error first', async () => {
      const socket = new WebSocket(`${server.managerUrl.replace('https', 'wss')}/ws/node`, { ca: server.managerCert });
      const frames: any[] = [];
      socket.on('message', (data) => frames.push(JSON.parse(String(data))));
      const code = await new Promise<number>((resolve) => socket.on('close', resolve));
      assert.equal(code, 1008);
      assert.deepEqual(frames, [{ type: 'auth_error', message: 'Authentication timeout' }]);
    });

    it('pins the certificate by fingerprint (accept_self_signed_cert), and refuses a wrong pin', async () => {
      const node = await createNode();
      const pinned = track(bilbycastEdge({ urls: block().urls, cert_fingerprint: server.managerFingerprint, registration_token: node.registration_token }));
      assert.deepEqual(await pinned.connect(), { type: 'register_ack' });
      const wrong = bilbycastEdge({ urls: block().urls, cert_fingerprint: '00'.repeat(32).match(/../g)!.join(':'), node_id: node.id, node_secret: 'x' });
      assert.equal((await wrong.connect()).type, 'no_reply');
    });

    it('keeps one session per node: a second connection replaces the first', async () => {
      const { node, edge } = await registered();
      const first = edge.closed();
      const twin = track(bilbycastEdge(block({ node_id: node.id, node_secret: edge.manager.node_secret })));
      assert.deepEqual(await twin.connect(), { type: 'auth_ok' });
      assert.equal(await first, 4000);
      twin.send('health', { status: 'ok', version: '0.107.0' });
      const res = await eventually(async () => {
        const r = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
        return r.body.software_version === '0.107.0' ? r.body : undefined;
      });
      assert.equal(res.status, 'online');
      assert.equal((await events(node.id)).filter((e) => e.message === 'Node disconnected from manager').length, 0);
    });

    it('drops a frame over 5 MB and keeps the socket', async () => {
      const { node, edge } = await registered();
      edge.sendRaw(
        JSON.stringify({
          type: 'event',
          timestamp: new Date().toISOString(),
          payload: { severity: 'info', category: 'x', message: 'y'.repeat(6 * 1024 * 1024) },
        }),
      );
      edge.send('health', { status: 'ok', version: '0.106.1' });
      await eventually(async () => (await server.managerApi.get(`/api/v1/nodes/${node.id}`)).body.software_version === '0.106.1');
      assert.equal(edge.socket?.readyState, WebSocket.OPEN);
      assert.equal((await events(node.id)).filter((e) => e.category === 'x').length, 0);
    });

    it("samples a streaming node's latest stats to the database, shown on the node", async () => {
      const { node } = await registered();
      const sampled = await eventually(async () => {
        const res = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
        return res.body.last_stats ? res.body : undefined;
      });
      assert.equal(typeof sampled.last_stats.uptime_secs, 'number');
      assert.deepEqual(sampled.last_stats.flows, []);
      assert.ok(Date.parse(sampled.last_stats_at) <= Date.now());
      const later = await eventually(async () => {
        const res = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
        return res.body.last_stats_at > sampled.last_stats_at ? res.body : undefined;
      });
      assert.ok(later.last_stats.uptime_secs >= sampled.last_stats.uptime_secs, 'a later sample replaces the earlier one');
    });

    it('stores node events with the ingest rules, and publishes each as manager.node.event', async () => {
      const receiver = await new WebhookReceiver(WEBHOOK_SECRET).start();
      const hook = await server.api.post('/api/v1/webhooks', { url: receiver.url, secret: WEBHOOK_SECRET, subscribed_events: ['manager.node.event'] });
      assert.equal(hook.status, 201, hook.text);
      const { node, edge } = await registered();
      edge.sendEvent({ severity: 'critical', category: 'srt', message: 'SRT input lost', details: { error_code: 'srt_timeout' }, flow_id: 'f1' });
      edge.send('event', { severity: 'loud', message: 'no category' });
      edge.send('event', { severity: 'warning', category: 'c'.repeat(300), message: 'm'.repeat(12_000) });
      edge.send('mystery', { anything: true });
      const stored = await eventually(async () => {
        const rows = (await events(node.id)).filter((e) => e.category !== 'connection' && e.category !== 'compatibility');
        return rows.length === 3 ? rows.reverse() : undefined;
      });
      assert.deepEqual(
        stored.map((e) => [e.severity, e.category.length > 20 ? e.category.length : e.category, e.message.length, e.flow_id]),
        [
          ['critical', 'srt', 14, 'f1'],
          ['info', 'unknown', 11, null],
          ['warning', 256, 10_000, null],
        ],
      );
      assert.deepEqual(JSON.parse(stored[0]!.details!), { error_code: 'srt_timeout' });
      assert.equal(edge.socket?.readyState, WebSocket.OPEN);
      try {
        const delivered = await eventually(async () => {
          const mine = receiver.requests.filter((r) => (r.event?.data as { node_id?: string })?.node_id === node.id);
          return mine.length === 3 ? mine : undefined;
        });
        assert.ok(delivered.every((r) => r.signatureValid && r.event!.type === 'manager.node.event'));
        const first = delivered.find((r) => (r.event!.data as { category: string }).category === 'srt')!;
        assert.deepEqual(first.event!.data, {
          node_id: node.id,
          severity: 'critical',
          category: 'srt',
          message: 'SRT input lost',
          details: { error_code: 'srt_timeout' },
          flow_id: 'f1',
          created_at: stored[0]!.created_at,
        });
      } finally {
        await server.api.delete(`/api/v1/webhooks/${hook.body.data.id}`);
        await receiver.stop();
      }
    });

    it('answers JSON ping with pong and marks the node offline with a critical event when the socket closes', async () => {
      const { node, edge } = await registered();
      await edge.waitFor((frame) => frame.type === 'ping');
      // The auth reply came first; pings only after it.
      assert.equal(edge.received[0]!.type, 'register_ack');
      await eventually(async () => (await server.managerApi.get(`/api/v1/nodes/${node.id}`)).body.status === 'online');
      await edge.stop();
      const offline = await eventually(async () => {
        const res = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
        return res.body.status === 'offline' ? res.body : undefined;
      });
      assert.equal(offline.status, 'offline');
      const last = (await events(node.id))[0]!;
      assert.deepEqual([last.severity, last.category, last.message], ['critical', 'connection', 'Node disconnected from manager']);
      assert.equal((await server.api.get(`/api/v1/fleet/${node.id}`)).body.data.status, 'offline');
    });

    it('issues a new token (status pending) that registers the node again', async () => {
      const { node, edge } = await registered();
      await edge.stop();
      await eventually(async () => (await server.managerApi.get(`/api/v1/nodes/${node.id}`)).body.status === 'offline');
      const token = await server.managerApi.post(`/api/v1/nodes/${node.id}/token`);
      assert.equal(token.status, 200);
      assert.equal((await server.managerApi.get(`/api/v1/nodes/${node.id}`)).body.status, 'pending');
      const fresh = track(bilbycastEdge(block({ registration_token: token.body.registration_token })));
      assert.deepEqual(await fresh.connect(), { type: 'register_ack' });
      assert.equal(fresh.nodeId, node.id);
      assert.notEqual(fresh.manager.node_secret, edge.manager.node_secret);
    });

    it('updates a node and refuses a past expiry', async () => {
      const node = await createNode();
      const put = await server.managerApi.put(`/api/v1/nodes/${node.id}`, { name: 'renamed', description: null });
      assert.equal(put.status, 200);
      assert.equal(put.body.name, 'renamed');
      const past = await server.managerApi.put(`/api/v1/nodes/${node.id}`, { expires_at: '2001-01-01T00:00:00Z' });
      assert.equal(past.status, 400);
      assert.deepEqual(past.body, { error: 'expires_at must be in the future' });
    });

    it('closes the live socket when the node is deleted', async () => {
      const { node, edge } = await registered();
      await eventually(async () => (await server.managerApi.get(`/api/v1/nodes/${node.id}`)).body.status === 'online');
      const closed = edge.closed();
      const res = await server.managerApi.delete(`/api/v1/nodes/${node.id}`);
      assert.equal(res.status, 204);
      assert.equal(await closed, 4004);
      const gone = await server.managerApi.get(`/api/v1/nodes/${node.id}`);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.body, { error: 'Node not found' });
    });

    it('hides a node from a viewer restricted to another node (404, filtered list), by cookie and CSRF rules', async () => {
      const mine = await createNode();
      const theirs = await createNode();
      const viewer = await createOperator(server.api, { role: 'viewer', allowed_node_ids: [mine.id] });
      const session = await loginAs(server.api, viewer.username);
      const cookie = { cookie: `session=${session.session}; csrf_token=${session.csrf}` };
      const client = server.managerApi.withToken(null).withHeaders(cookie);
      assert.equal((await client.get(`/api/v1/nodes/${mine.id}`)).status, 200);
      const hidden = await client.get(`/api/v1/nodes/${theirs.id}`);
      assert.equal(hidden.status, 404);
      assert.deepEqual(hidden.body, { error: 'Node not found' });
      const list = await client.get('/api/v1/nodes');
      assert.deepEqual(
        list.body.map((n: any) => n.id),
        [mine.id],
      );
      const noCsrf = await client.post('/api/v1/nodes', { name: 'x' });
      assert.equal(noCsrf.status, 403);
      assert.match(noCsrf.body.error, /CSRF/);
      const asViewer = await client.withHeaders({ 'x-csrf-token': session.csrf }).post('/api/v1/nodes', { name: 'x' });
      assert.equal(asViewer.status, 403);
      assert.deepEqual(asViewer.body, { error: 'This requires the admin role' });
    });
  });
}
