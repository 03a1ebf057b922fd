/**
 * The Core node face over real HTTP (seed 000, specs/core-node.md §4.3): registration with an
 * operator-issued code, x-node-auth-key on every other route, heartbeat/needSync, config/latest
 * with ETag and 304, applied, error, offline detection, expiry, and hostile input — 4xx, never a
 * 5xx, and nothing changes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { parse as parseToml } from 'smol-toml';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createNode, createProtocol, createSubscription, createUser, NodeClient, registeredNode, registrationBody } from '../helpers/vpn-admin.ts';

/** Hash of the VPN tables and the outbox: "nothing changed" means this stays equal. */
async function snapshot(server: TestServer): Promise<string> {
  const db = server.ctx.database.db;
  const hash = createHash('sha256');
  for (const table of ['nodes', 'core_nodes', 'node_protocols', 'vpn_subscriptions', 'subscription_protocols', 'events']) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    hash.update(
      `${table}:${rows.rows
        .map((r) => JSON.stringify(Object.entries(r).sort()))
        .sort()
        .join('\n')}\n`,
    );
  }
  return hash.digest('hex');
}

async function eventsOf(server: TestServer, type: string): Promise<any[]> {
  const rows = await server.ctx.database.db.selectFrom('events').select('envelope').where('type', '=', type).orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.envelope).data);
}

const until = async (check: () => Promise<boolean>, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not reached in time');
};

for (const engine of testEngines()) {
  describe(`Core node API [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    describe('registration', () => {
      it('accepts the operator-issued code once per node identity and returns {authKey, nodeId}', async () => {
        const node = await createNode(server.api);
        const anon = new NodeClient(server.api, null);
        const res = await anon.post('/register', {
          code: node.registration_code,
          name: 'edge-fra-1',
          host: 'fra1.vpn.example.com',
          ip: '198.51.100.7',
          region: 'eu-central',
        });
        assert.equal(res.status, 201);
        assert.deepEqual(Object.keys(res.body).sort(), ['authKey', 'nodeId']);
        assert.equal(res.body.nodeId, node.core_id);
        assert.ok(Buffer.from(res.body.authKey, 'base64url').length >= 32);

        const view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.equal(view.name, node.name, "the operator's name stays");
        assert.equal(view.host, node.host, "the operator's host stays");
        assert.equal(view.ip, '198.51.100.7');
        assert.equal(view.region, 'eu-central');
        assert.equal(view.status, 'pending');
        assert.equal(view.sync_status, 'pending');
        assert.equal(view.registered, true);
        const stored = await server.ctx.database.db.selectFrom('core_nodes').selectAll().where('node_id', '=', node.id).executeTakeFirstOrThrow();
        assert.notEqual(stored.auth_key_hash, res.body.authKey, 'only a hash of the key is stored');
        assert.equal(stored.auth_key_hash, createHash('sha256').update(res.body.authKey).digest('hex'));
        const [event] = (await eventsOf(server, 'core.node.registered')).filter((e) => e.node_id === node.id);
        assert.equal(event.reregistered, false);
        assert.equal(event.core_id, node.core_id);
        assert.ok(!JSON.stringify(event).includes(res.body.authKey) && !JSON.stringify(event).includes(node.registration_code));

        // The key works.
        assert.equal((await new NodeClient(server.api, res.body.authKey).post('/heartbeat', { revision: 1 })).status, 200);
      });

      it("keeps the operator's name, host, ip and region; the agent's report fills only what is unset, and links keep the operator's host", async () => {
        const node = await createNode(server.api, { host: 'fra1.vpn.example.com', ip: '203.0.113.9', region: 'eu-central' });
        const bare = await createNode(server.api, { host: 'ams1.vpn.example.com' });
        const protocol = await createProtocol(server.api, node.id, { protocol: 'vless', port: 443 });
        const user = await createUser(server.api);
        const sub = await createSubscription(server.api, user.id, { node_protocol_ids: [protocol.id] });
        const anon = new NodeClient(server.api, null);
        const machine = { name: 'ip-10-0-0-7', host: 'ip-10-0-0-7.ec2.internal', ip: '10.0.0.7', region: 'us-east-1' };
        for (const n of [node, bare]) {
          const res = await anon.post('/register', { code: n.registration_code, ...machine });
          assert.equal(res.status, 201);
        }
        const view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.deepEqual([view.name, view.host, view.ip, view.region], [node.name, 'fra1.vpn.example.com', '203.0.113.9', 'eu-central']);
        const filled = (await server.api.get(`/api/v1/vpn/nodes/${bare.id}`)).body.data;
        assert.deepEqual([filled.name, filled.host, filled.ip, filled.region], [bare.name, 'ams1.vpn.example.com', '10.0.0.7', 'us-east-1']);
        const doc = await fetch(`${server.url}/sub/${sub.link_uuid}`);
        const link = Buffer.from(await doc.text(), 'base64').toString('utf8');
        assert.match(link, /^vless:\/\/[^@]+@fra1\.vpn\.example\.com:443\?/, 'the share link points at the host the operator set');
      });

      it('refuses unknown, malformed and guessed codes with 401 and changes nothing', async () => {
        const node = await createNode(server.api);
        const anon = new NodeClient(server.api, null);
        const before = await snapshot(server);
        const wrongSecret = `${node.registration_code.slice(0, 13)}${'A'.repeat(43)}`;
        for (const code of [wrongSecret, node.code, 'npc_00000000_' + 'B'.repeat(43), 'not-a-code', "' or 1=1 --", node.registration_code.toUpperCase()]) {
          const res = await anon.post('/register', registrationBody(code));
          assert.equal(res.status, 401, code);
          assert.deepEqual(res.body, { statusCode: 401, message: 'Invalid registration code', error: 'Unauthorized' });
        }
        assert.equal(await snapshot(server), before);
      });

      it('validates the DTO with NestJS-style 400s and stores nothing', async () => {
        const node = await createNode(server.api);
        const anon = new NodeClient(server.api, null);
        const before = await snapshot(server);
        const missing = await anon.post('/register', { code: node.registration_code });
        assert.equal(missing.status, 400);
        assert.equal(missing.body.error, 'Bad Request');
        assert.ok(missing.body.message.includes('name: Missing field: name'), missing.text);
        for (const bad of [{ ip: '999.1.1.1' }, { ip: 'localhost' }, { host: 'bad host!' }, { name: '' }, { region: 'r'.repeat(65) }, { code: 12 }]) {
          const res = await anon.post('/register', registrationBody(node.registration_code, bad));
          assert.equal(res.status, 400, JSON.stringify(bad));
          assert.ok(Array.isArray(res.body.message));
        }
        const garbage = await anon.api.request('POST', '/node/register', { rawBody: '{"code": ' });
        assert.deepEqual(garbage.body, { statusCode: 400, message: 'Invalid JSON body', error: 'Bad Request' });
        assert.equal(await snapshot(server), before);
      });

      it('rotates the key on re-registration with the same code: the old key is dead at once', async () => {
        const { node, client: first } = await registeredNode(server.api);
        const again = await new NodeClient(server.api, null).post('/register', registrationBody(node.registration_code));
        assert.equal(again.status, 201);
        assert.equal(again.body.nodeId, node.core_id);
        assert.equal((await first.post('/heartbeat', {})).status, 401);
        assert.equal((await new NodeClient(server.api, again.body.authKey).post('/heartbeat', {})).status, 200);
        const events = (await eventsOf(server, 'core.node.registered')).filter((e) => e.node_id === node.id);
        assert.deepEqual(
          events.map((e) => e.reregistered),
          [false, true],
        );
      });

      it('reset_code retires the old code and the current key; the new code registers', async () => {
        const { node, client } = await registeredNode(server.api);
        const reset = await server.api.post(`/api/v1/vpn/nodes/${node.id}/reset_code`);
        assert.equal(reset.status, 200);
        const code = reset.body.data.registration_code;
        assert.notEqual(code, node.registration_code);
        assert.equal(reset.body.data.registered, false);
        const anon = new NodeClient(server.api, null);
        assert.equal((await anon.post('/register', registrationBody(node.registration_code))).status, 401);
        assert.equal((await client.post('/heartbeat', {})).status, 401);
        const res = await anon.post('/register', registrationBody(code));
        assert.equal(res.status, 201);
        assert.equal(res.body.nodeId, node.core_id);
      });
    });

    describe('authentication', () => {
      it('answers 401 on every route but register without a valid x-node-auth-key, and changes nothing', async () => {
        const { node } = await registeredNode(server.api);
        const before = await snapshot(server);
        const routes: Array<[string, string, unknown]> = [
          ['POST', '/heartbeat', { revision: 1, ip: '192.0.2.1' }],
          ['GET', '/config/latest', undefined],
          ['POST', '/config/applied', { revision: 1 }],
          ['POST', '/error', { message: 'boom' }],
        ];
        for (const key of [null, '', 'wrong', node.registration_code, 'k'.repeat(600), 'x'.repeat(43)]) {
          for (const [method, path, body] of routes) {
            const client = new NodeClient(server.api, key);
            const res = method === 'GET' ? await client.get(path) : await client.post(path, body);
            assert.equal(res.status, 401, `${method} ${path} with ${String(key).slice(0, 10)}`);
            assert.deepEqual(res.body, { statusCode: 401, message: 'Invalid or missing node auth key', error: 'Unauthorized' });
          }
        }
        // The Admin API key is not a node key either.
        const admin = await server.api.request('POST', '/node/heartbeat', { body: {} });
        assert.equal(admin.status, 401);
        assert.equal(await snapshot(server), before);
      });
    });

    describe('hostile input with a valid key', () => {
      it('answers malformed bodies on every authenticated route with a 4xx, never a 5xx, and changes nothing', async () => {
        const { client } = await registeredNode(server.api);
        const bodies: Array<[string, string]> = [
          ['{"unterminated": ', 'application/json'],
          ['[1,2,3]', 'application/json'],
          ['"just a string"', 'application/json'],
          ['12', 'application/json'],
          ['{"__proto__": {"polluted": true}}', 'application/json'],
          ['{"constructor": {"prototype": {"polluted": true}}, "revision": "x"}', 'application/json'],
          ['\u0000\u0001', 'application/json'],
          ['revision=1', 'application/x-www-form-urlencoded'],
          ['{"revision": 1}', 'text/plain'],
          [JSON.stringify({ revision: 'x'.repeat(20_000), message: 5, ip: { a: 1 } }), 'application/json'],
          [JSON.stringify({ revision: -1e308, message: null }), 'application/json'],
          [JSON.stringify({ blob: 'y'.repeat(9 * 1024 * 1024) }), 'application/json'],
        ];
        const before = await snapshot(server);
        const failures: string[] = [];
        for (const path of ['/heartbeat', '/config/applied', '/error']) {
          for (const [body, type] of bodies) {
            const res = await fetch(`${server.url}/node${path}`, {
              method: 'POST',
              headers: { 'x-node-auth-key': client.authKey!, 'content-type': type },
              body,
            });
            if (res.status < 400 || res.status >= 500)
              failures.push(`${path} ${body.slice(0, 40)} (${type}) → ${res.status} ${(await res.text()).slice(0, 120)}`);
            else await res.arrayBuffer();
          }
        }
        for (const headers of [{ 'if-none-match': 'x'.repeat(5000) }, { 'x-node-auth-key': client.authKey!, 'if-none-match': '"' }]) {
          const res = await fetch(`${server.url}/node/config/latest?unknown=1`, { headers: { 'x-node-auth-key': client.authKey!, ...headers } });
          if (res.status < 400 || res.status >= 500) failures.push(`config/latest ${JSON.stringify(headers).slice(0, 40)} → ${res.status}`);
          await res.arrayBuffer();
        }
        assert.deepEqual(failures, []);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(await snapshot(server), before);
      });
    });

    describe('heartbeat', () => {
      it('sets lastSeenAt, ip and status online, and asks for a sync unless the revision matches exactly', async () => {
        const { node, client } = await registeredNode(server.api);
        const current = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.equal(current.last_seen_at, null);

        const first = await client.post('/heartbeat', { ip: '192.0.2.44' });
        assert.equal(first.status, 200);
        assert.deepEqual(first.body, { ok: true, needSync: true });
        assert.equal((await client.post('/heartbeat', { revision: current.revision })).body.needSync, false);
        assert.equal((await client.post('/heartbeat', { revision: current.revision - 1 })).body.needSync, true);
        // Ahead (a restored database): resync too.
        assert.equal((await client.post('/heartbeat', { revision: current.revision + 5 })).body.needSync, true);
        // No body at all is a heartbeat without a revision.
        const empty = await client.api.request('POST', '/node/heartbeat', { headers: { 'x-node-auth-key': client.authKey! } });
        assert.deepEqual(empty.body, { ok: true, needSync: true });

        const view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.equal(view.status, 'online');
        assert.equal(view.ip, '192.0.2.44');
        assert.ok(view.last_seen_at);
        const changes = (await eventsOf(server, 'core.node.status_changed')).filter((e) => e.node_id === node.id);
        assert.deepEqual(
          changes.map((e) => [e.previous_status, e.status]),
          [['pending', 'online']],
        );
      });

      it('keeps a disabled node disabled', async () => {
        const { node, client } = await registeredNode(server.api);
        await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { disabled: true });
        assert.equal((await client.post('/heartbeat', {})).status, 200);
        assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.status, 'disabled');
      });

      it('refuses malformed bodies with 400 and records nothing', async () => {
        const { client } = await registeredNode(server.api);
        const before = await snapshot(server);
        for (const body of [{ revision: -1 }, { revision: 'abc' }, { revision: 1.5 }, { revision: 2 ** 40 }, { ip: 'not-an-ip' }, { ip: 7 }, [1, 2]]) {
          const res = await client.post('/heartbeat', body);
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.equal(res.body.statusCode, 400);
        }
        assert.equal(await snapshot(server), before);
      });
    });

    describe('config/latest', () => {
      let node: Awaited<ReturnType<typeof registeredNode>>;
      let vless: { id: number };
      let mt: { id: number };
      let userId: number;
      let sub: { id: number; link_uuid: string };

      before(async () => {
        node = await registeredNode(server.api);
        vless = await createProtocol(server.api, node.node.id, { protocol: 'vless', port: 443, transport: 'ws', transport_settings: { path: '/ws' } });
        mt = await createProtocol(server.api, node.node.id, { protocol: 'mtproto', port: 8443, mtproto_settings: { tls_domain: 'www.google.com' } });
        userId = (await createUser(server.api)).id;
        sub = await createSubscription(server.api, userId, { node_protocol_ids: [vless.id, mt.id] });
      });

      it('renders the NodeConfig: revision, clientMap and the xray and mtproto services', async () => {
        const res = await node.client.get('/config/latest');
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type')!, /^application\/json/);
        const config = res.body;
        const view = (await server.api.get(`/api/v1/vpn/nodes/${node.node.id}`)).body.data;
        assert.equal(config.revision, view.revision);
        assert.deepEqual(config.clientMap, { [sub.link_uuid]: { userId, subscriptionId: sub.id } });
        const [inbound] = config.services.xray.inbounds;
        assert.equal(inbound.tag, `np-${vless.id}`);
        assert.deepEqual(inbound.settings.clients, [{ id: sub.link_uuid, email: `${sub.link_uuid}@np-${vless.id}`, level: 0 }]);
        assert.deepEqual(
          config.services.xray.outbounds.map((o: any) => o.tag),
          ['direct', 'block'],
        );
        assert.ok(config.services.xray.routing.rules.every((r: any) => r.type === 'field'));
        assert.equal(config.services.mtproto.nodeProtocolId, mt.id);
        assert.equal(config.services.mtproto.publicHost, node.node.host);
        assert.deepEqual(config.services.mtproto.users, [{ name: sub.link_uuid, secret: sub.link_uuid.replaceAll('-', '') }]);
        // telemt's config.toml: valid TOML with the keys telemt reads (§3.2).
        const toml = JSON.parse(JSON.stringify(parseToml(config.services.mtproto.configToml)));
        assert.deepEqual(toml.general.modes, { classic: false, secure: false, tls: true });
        assert.deepEqual(toml.general.links, { public_host: node.node.host, public_port: 8443 });
        assert.equal(toml.server.port, 8443);
        assert.deepEqual(toml.censorship, { tls_domain: 'www.google.com', tls_domains: [], mask: true });
        assert.deepEqual(toml.access.users, { [sub.link_uuid]: sub.link_uuid.replaceAll('-', '') });
        // The operators' preview is the same config (this one has no secret to redact).
        const preview = await server.api.get(`/api/v1/vpn/nodes/${node.node.id}/config`);
        assert.deepEqual(preview.body.data, config);
      });

      it('answers 304 to If-None-Match with the current ETag, and 200 once the config changed', async () => {
        const first = await node.client.get('/config/latest');
        const etag = first.headers.get('etag')!;
        assert.match(etag, /^"\d+-[0-9a-f]{16}"$/);
        const again = await node.client.get('/config/latest');
        assert.equal(again.headers.get('etag'), etag, 'the ETag is stable while nothing changes');
        assert.equal(again.text, first.text, 'and so are the bytes');

        const cached = await node.client.get('/config/latest', { 'if-none-match': etag });
        assert.equal(cached.status, 304);
        assert.equal(cached.text, '');
        assert.equal(cached.headers.get('etag'), etag);
        assert.equal((await node.client.get('/config/latest', { 'if-none-match': `W/${etag}, "other"` })).status, 304);
        assert.equal((await node.client.get('/config/latest', { 'if-none-match': '"0-0000000000000000"' })).status, 200);

        // Revoking the link changes the config: new revision, new ETag, new link in clientMap.
        const revoked = (await server.api.post(`/api/v1/vpn/subscriptions/${sub.id}/revoke`)).body.data;
        const fresh = await node.client.get('/config/latest', { 'if-none-match': etag });
        assert.equal(fresh.status, 200);
        assert.notEqual(fresh.headers.get('etag'), etag);
        assert.equal(fresh.body.revision, first.body.revision + 1);
        assert.deepEqual(Object.keys(fresh.body.clientMap), [revoked.link_uuid]);
        sub = revoked;
      });

      it('holds a 304 with ?wait= until the config changes (long-poll), then answers the new config', async () => {
        const current = await node.client.get('/config/latest');
        const etag = current.headers.get('etag')!;
        let settled = false;
        const held = node.client.get('/config/latest?wait=30', { 'if-none-match': etag }).finally(() => (settled = true));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(settled, false, 'nothing changed: the answer is held');

        const revoked = (await server.api.post(`/api/v1/vpn/subscriptions/${sub.id}/revoke`)).body.data;
        const answer = await held;
        assert.equal(answer.status, 200);
        assert.equal(answer.body.revision, current.body.revision + 1);
        assert.deepEqual(Object.keys(answer.body.clientMap), [revoked.link_uuid]);
        assert.notEqual(answer.headers.get('etag'), etag);
        sub = revoked;

        // No change within the wait: the 304 comes when the wait is over; a stale ETag is answered at once.
        const fresh = answer.headers.get('etag')!;
        assert.equal((await node.client.get('/config/latest?wait=1', { 'if-none-match': fresh })).status, 304);
        assert.equal((await node.client.get('/config/latest?wait=30', { 'if-none-match': etag })).status, 200);
        for (const bad of ['wait=abc', 'wait=-1', 'wait=61', 'wait=1.5']) {
          const res = await node.client.get(`/config/latest?${bad}`, { 'if-none-match': fresh });
          assert.equal(res.status, 400, bad);
          assert.equal(res.body.statusCode, 400);
        }
      });

      it('drops a subscription from the config while it or its user is disabled', async () => {
        const base = (await node.client.get('/config/latest')).body;
        await server.api.patch(`/api/v1/vpn/subscriptions/${sub.id}`, { status: 'disabled' });
        const disabled = (await node.client.get('/config/latest')).body;
        assert.equal(disabled.revision, base.revision + 1);
        assert.deepEqual(disabled.clientMap, {});
        assert.deepEqual(disabled.services.xray.inbounds[0].settings.clients, []);
        assert.equal(disabled.services.mtproto, undefined);
        await server.api.patch(`/api/v1/vpn/subscriptions/${sub.id}`, { status: 'active' });
        await server.api.patch(`/api/v1/vpn/users/${userId}`, { status: 'disabled' });
        assert.deepEqual((await node.client.get('/config/latest')).body.clientMap, {});
        await server.api.patch(`/api/v1/vpn/users/${userId}`, { status: 'active' });
        assert.deepEqual(Object.keys((await node.client.get('/config/latest')).body.clientMap), [sub.link_uuid]);
      });

      it('serves each node only its own config', async () => {
        const other = await registeredNode(server.api);
        const otherProtocol = await createProtocol(server.api, other.node.id, { protocol: 'trojan', port: 443 });
        const otherSub = await createSubscription(server.api, userId, { node_protocol_ids: [otherProtocol.id] });
        const mine = (await node.client.get('/config/latest')).body;
        const theirs = (await other.client.get('/config/latest')).body;
        assert.ok(!(otherSub.link_uuid in mine.clientMap));
        assert.deepEqual(Object.keys(theirs.clientMap), [otherSub.link_uuid]);
        assert.deepEqual(
          theirs.services.xray.inbounds.map((i: any) => i.tag),
          [`np-${otherProtocol.id}`],
        );
      });
    });

    describe('config/applied and error', () => {
      it('marks the node synced at the current revision, keeps pending for an older one, refuses one never issued', async () => {
        const { node, client } = await registeredNode(server.api);
        await createProtocol(server.api, node.id, { protocol: 'vmess', port: 10086 });
        const { revision } = (await client.get('/config/latest')).body;
        assert.ok(revision >= 2);

        const older = await client.post('/config/applied', { revision: revision - 1 });
        assert.deepEqual([older.status, older.body], [200, { ok: true }]);
        let view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.deepEqual([view.sync_status, view.applied_revision], ['pending', revision - 1]);

        const before = await snapshot(server);
        const ahead = await client.post('/config/applied', { revision: revision + 1 });
        assert.equal(ahead.status, 409);
        assert.equal(ahead.body.error, 'Conflict');
        for (const body of [{}, { revision: 0 }, { revision: '2' }, { revision: null }]) assert.equal((await client.post('/config/applied', body)).status, 400);
        assert.equal(await snapshot(server), before);

        const current = await client.post('/config/applied', { revision });
        assert.equal(current.status, 200);
        view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.deepEqual([view.status, view.sync_status, view.applied_revision, view.revision], ['online', 'synced', revision, revision]);
        const [event] = (await eventsOf(server, 'core.node.config_applied')).filter((e) => e.node_id === node.id);
        assert.equal(event.applied_revision, revision);
        assert.equal((await client.post('/heartbeat', { revision })).body.needSync, false);
      });

      it('records an error (status error, sync failed, message kept) until a successful apply clears it', async () => {
        const { node, client } = await registeredNode(server.api);
        const { revision } = (await client.get('/config/latest')).body;
        const res = await client.post('/error', { message: 'xray: failed to start: port 443 in use', code: 'XRAY_START', details: { exitCode: 23 } });
        assert.deepEqual([res.status, res.body], [200, { ok: true }]);
        let view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.equal(view.status, 'error');
        assert.equal(view.sync_status, 'failed');
        assert.equal(view.last_error.message, 'xray: failed to start: port 443 in use');
        assert.equal(view.last_error.code, 'XRAY_START');
        assert.deepEqual(view.last_error.details, { exitCode: 23 });
        assert.ok(view.last_error.at);
        const [event] = (await eventsOf(server, 'core.node.error')).filter((e) => e.node_id === node.id);
        assert.deepEqual(event.error.message, 'xray: failed to start: port 443 in use');
        assert.equal(
          (await server.api.get('/api/v1/vpn/nodes?has_error=true&status=error')).body.data.some((n: any) => n.id === node.id),
          true,
        );

        // A heartbeat does not hide the failure.
        await client.post('/heartbeat', { revision });
        assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.status, 'error');

        await client.post('/config/applied', { revision });
        view = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.deepEqual([view.status, view.sync_status, view.last_error], ['online', 'synced', null]);
      });

      it('refuses malformed or oversized error reports and records nothing', async () => {
        const { client } = await registeredNode(server.api);
        const before = await snapshot(server);
        for (const body of [{}, { message: '' }, { message: 'x'.repeat(4001) }, { message: 'x', details: 'text' }, { message: 'x', code: 5 }]) {
          assert.equal((await client.post('/error', body)).status, 400, JSON.stringify(body));
        }
        const huge = await client.post('/error', { message: 'x', details: { blob: 'y'.repeat(100_000) } });
        assert.equal(huge.status, 413);
        assert.equal(huge.body.statusCode, 413);
        assert.equal(await snapshot(server), before);
      });
    });
  });

  describe(`Core node sweeps [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { CORE_NODE_OFFLINE_AFTER_MS: '300', CORE_NODE_SWEEP_INTERVAL_MS: '100', VPN_SUBSCRIPTION_SWEEP_INTERVAL_MS: '100' });
    });
    after(() => server.stop());

    it('marks nodes that stop heartbeating offline (with an event) and brings them back online', async () => {
      const { node, client } = await registeredNode(server.api);
      await client.post('/heartbeat', {});
      await until(async () => (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.status === 'offline');
      const changes = (await eventsOf(server, 'core.node.status_changed')).filter((e) => e.node_id === node.id);
      assert.deepEqual(
        changes.map((e) => e.status),
        ['online', 'offline'],
      );
      await client.post('/heartbeat', {});
      assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.status, 'online');
    });

    it('expires a subscription when its time passes: new revision, needSync, gone from clientMap, event', async () => {
      const { node, client } = await registeredNode(server.api);
      const p = await createProtocol(server.api, node.id, { protocol: 'vless', port: 443 });
      const user = await createUser(server.api);
      const sub = await createSubscription(server.api, user.id, { node_protocol_ids: [p.id], expires_at: new Date(Date.now() + 800).toISOString() });
      const config = (await client.get('/config/latest')).body;
      assert.deepEqual(Object.keys(config.clientMap), [sub.link_uuid]);
      await client.post('/config/applied', { revision: config.revision });

      await until(async () => (await server.api.get(`/api/v1/vpn/subscriptions/${sub.id}`)).body.data.status === 'expired');
      assert.equal((await client.post('/heartbeat', { revision: config.revision })).body.needSync, true);
      const next = (await client.get('/config/latest')).body;
      assert.equal(next.revision, config.revision + 1);
      assert.deepEqual(next.clientMap, {});
      const [event] = (await eventsOf(server, 'vpn.subscription.expired')).filter((e) => e.subscription_id === sub.id);
      assert.equal(event.user_id, user.id);
      assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.sync_status, 'pending');
    });
  });
}
