/**
 * The VPN service's Admin API over real HTTP: users, subscriptions (revoke, reset, grants), Core
 * nodes, node protocols and outbounds — CRUD, validation, filters and pagination, and bad or
 * hostile input answered with a clear 4xx while nothing is stored.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { realityPublicKey } from '../../src/server/modules/vpn/credentials.ts';
import { createNode, createProtocol, createSubscription, createUser } from '../helpers/vpn-admin.ts';

const VPN_TABLES = ['vpn_users', 'vpn_subscriptions', 'subscription_protocols', 'nodes', 'core_nodes', 'node_protocols', 'node_outbounds', 'events'];

async function snapshot(server: TestServer): Promise<string> {
  const hash = createHash('sha256');
  for (const table of VPN_TABLES) {
    // A refused call is audited: its audit.recorded event is the one write it makes.
    const rows =
      table === 'events'
        ? await sql<Record<string, unknown>>`select * from events where type <> 'audit.recorded'`.execute(server.ctx.database.db)
        : await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(server.ctx.database.db);
    hash.update(
      `${table}:${rows.rows
        .map((r) => JSON.stringify(Object.entries(r).sort()))
        .sort()
        .join('\n')}\n`,
    );
  }
  return hash.digest('hex');
}

/** Runs the requests; each must answer `status`, and together they must leave the database as it was. */
async function refusedWithoutChange(server: TestServer, status: number, requests: Array<() => Promise<{ status: number; text: string }>>) {
  const before = await snapshot(server);
  for (const request of requests) {
    const res = await request();
    assert.equal(res.status, status, res.text);
  }
  assert.equal(await snapshot(server), before, 'the database changed');
}

for (const engine of testEngines()) {
  describe(`VPN admin API [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    describe('users', () => {
      it('creates, reads, updates, lists and deletes users', async () => {
        const res = await server.api.post('/api/v1/vpn/users', { username: 'carol@example.com', email: 'carol@example.com', telegram_id: '123456789' });
        assert.equal(res.status, 201);
        const user = res.body.data;
        assert.equal(res.headers.get('location'), `/api/v1/vpn/users/${user.id}`);
        assert.deepEqual(
          { ...user, inserted_at: undefined, updated_at: undefined },
          {
            id: user.id,
            username: 'carol@example.com',
            email: 'carol@example.com',
            telegram_id: '123456789',
            status: 'active',
            subscription_count: 0,
            inserted_at: undefined,
            updated_at: undefined,
          },
        );
        assert.match(user.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

        const patched = await server.api.patch(`/api/v1/vpn/users/${user.id}`, { email: null, status: 'disabled' });
        assert.equal(patched.status, 200);
        assert.equal(patched.body.data.email, null);
        assert.equal(patched.body.data.status, 'disabled');
        assert.equal((await server.api.get(`/api/v1/vpn/users/${user.id}`)).body.data.telegram_id, '123456789');

        await createUser(server.api, { username: 'dave' });
        const list = await server.api.get('/api/v1/vpn/users?username=carol*&status=disabled');
        assert.deepEqual(
          list.body.data.map((u: any) => u.id),
          [user.id],
        );
        const paged = await server.api.get('/api/v1/vpn/users?page_size=1&order_by=username&order_directions=asc');
        assert.equal(paged.body.data[0].username, 'carol@example.com');
        assert.equal(paged.body.meta.pagination.page_size, 1);
        assert.ok(paged.body.meta.pagination.total_count >= 2);

        assert.equal((await server.api.delete(`/api/v1/vpn/users/${user.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/vpn/users/${user.id}`)).status, 404);
      });

      it('refuses taken usernames (409) and malformed input (400) without storing anything', async () => {
        await createUser(server.api, { username: 'erin' });
        const taken = await server.api.post('/api/v1/vpn/users', { username: 'erin' });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.error.message, 'username has already been taken');
        const bad = await server.api.post('/api/v1/vpn/users', {
          username: 'has space',
          email: 'not-an-email',
          telegram_id: 'abc',
          status: 'limited',
          extra: true,
        });
        assert.equal(bad.status, 400);
        assert.deepEqual(Object.keys(bad.body.error.details).sort(), ['email', 'extra', 'status', 'telegram_id', 'username']);
        await refusedWithoutChange(server, 400, [
          () => server.api.post('/api/v1/vpn/users', {}),
          () => server.api.post('/api/v1/vpn/users', { username: 'x'.repeat(65) }),
          () => server.api.request('POST', '/api/v1/vpn/users', { rawBody: '{"username": "a", "__proto__": {"admin": true}}' }),
          () => server.api.get('/api/v1/vpn/users/abc'),
          () => server.api.get('/api/v1/vpn/users/0'),
          () => server.api.get('/api/v1/vpn/users/99999999999'),
          () => server.api.patch('/api/v1/vpn/users/1', { status: 'expired' }),
          () => server.api.get('/api/v1/vpn/users?colour=red'),
        ]);
        await refusedWithoutChange(server, 404, [
          () => server.api.patch('/api/v1/vpn/users/999999', { status: 'disabled' }),
          () => server.api.delete('/api/v1/vpn/users/999999'),
        ]);
        const injection = await server.api.get(`/api/v1/vpn/users?username=${encodeURIComponent("' or 1=1 --")}`);
        assert.deepEqual([injection.status, injection.body.data], [200, []]);
      });
    });

    describe('subscriptions', () => {
      let node: Awaited<ReturnType<typeof createNode>>;
      let p1: { id: number };
      let p2: { id: number };
      let userId: number;
      before(async () => {
        node = await createNode(server.api);
        p1 = await createProtocol(server.api, node.id, { protocol: 'vless', port: 443 });
        p2 = await createProtocol(server.api, node.id, { protocol: 'trojan', port: 8443 });
        userId = (await createUser(server.api)).id;
      });

      it('creates a subscription with a fresh link UUID, its grants and defaults', async () => {
        const res = await server.api.post('/api/v1/vpn/subscriptions', {
          user_id: userId,
          traffic_limit_bytes: 50 * 2 ** 30,
          reset_strategy: 'month',
          expires_at: '2031-06-01T12:00:00+02:00',
          node_protocol_ids: [p1.id],
        });
        assert.equal(res.status, 201);
        const s = res.body.data;
        assert.match(s.link_uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(s.status, 'active');
        assert.equal(s.traffic_limit_bytes, 50 * 2 ** 30);
        assert.equal(s.expires_at, '2031-06-01T10:00:00Z');
        assert.deepEqual(s.node_protocol_ids, [p1.id]);
        assert.deepEqual([s.used_up_bytes, s.used_down_bytes, s.used_bytes, s.lifetime_used_bytes, s.online], [0, 0, 0, 0, false]);
        assert.equal(JSON.stringify(s).includes('ss_password'), false, 'no secret in the view');
        assert.equal((await server.api.get(`/api/v1/vpn/users/${userId}`)).body.data.subscription_count, 1);
      });

      it('refuses unknown users and protocol ids with 422, malformed values with 400, and stores nothing', async () => {
        const unknownUser = await server.api.post('/api/v1/vpn/subscriptions', { user_id: 987654 });
        assert.equal(unknownUser.status, 422);
        assert.deepEqual(unknownUser.body.error.details, { user_id: ['does not exist'] });
        const unknownProtocol = await server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, node_protocol_ids: [p1.id, 777777] });
        assert.deepEqual(unknownProtocol.body.error.details, { node_protocol_ids: ['unknown node protocol ids: 777777'] });
        await refusedWithoutChange(server, 422, [
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: 987654, node_protocol_ids: [p1.id] }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, node_protocol_ids: [777777] }),
        ]);
        await refusedWithoutChange(server, 400, [
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, expires_at: '2031-02-30T00:00:00Z' }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, expires_at: 'tomorrow' }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, expires_at: '2031-06-01' }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, traffic_limit_bytes: -1 }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, traffic_limit_bytes: 2 ** 60 }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, node_protocol_ids: [p1.id, p1.id] }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, node_protocol_ids: ['1'] }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, status: 'limited' }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, reset_strategy: 'hourly' }),
          () => server.api.post('/api/v1/vpn/subscriptions', { user_id: '1' }),
          () => server.api.get('/api/v1/vpn/subscriptions?expires_at__gte=not-a-date'),
          () => server.api.get('/api/v1/vpn/subscriptions?link_uuid=xyz'),
        ]);
      });

      it('updates status, limits and expiry, deriving limited and expired with their events', async () => {
        const s = await createSubscription(server.api, userId, { traffic_limit_bytes: 1000, node_protocol_ids: [p1.id] });
        await server.ctx.database.db.updateTable('vpn_subscriptions').set({ used_up_bytes: 300, used_down_bytes: 400 }).where('id', '=', s.id).execute();

        const lowered = await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { traffic_limit_bytes: 500 });
        assert.equal(lowered.body.data.status, 'limited');
        const limited = (await server.ctx.database.db.selectFrom('events').select('envelope').where('type', '=', 'vpn.subscription.limited').execute()).map(
          (r) => JSON.parse(r.envelope).data,
        );
        assert.deepEqual(limited.at(-1), {
          subscription_id: s.id,
          user_id: userId,
          used_bytes: 700,
          traffic_limit_bytes: 500,
          limited_at: limited.at(-1).limited_at,
        });
        // Asking for active while over the limit leaves it limited; raising the limit frees it.
        assert.equal((await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { status: 'active' })).body.data.status, 'limited');
        assert.equal((await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { traffic_limit_bytes: 0 })).body.data.status, 'active');

        const past = await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { expires_at: '2020-01-01T00:00:00Z' });
        assert.equal(past.body.data.status, 'expired');
        assert.equal(
          (await server.ctx.database.db.selectFrom('events').select('seq').where('type', '=', 'vpn.subscription.expired').execute()).length >= 1,
          true,
        );
        const never = await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { expires_at: null });
        assert.deepEqual([never.body.data.status, never.body.data.expires_at], ['active', null]);
        const disabled = await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { status: 'disabled' });
        assert.equal(disabled.body.data.status, 'disabled');
        assert.equal((await server.api.patch(`/api/v1/vpn/subscriptions/${s.id}`, { reset_strategy: 'week' })).body.data.status, 'disabled', 'disabled sticks');
      });

      it('revokes (new link UUID) and resets traffic (counters to zero, lifetime kept)', async () => {
        const s = await createSubscription(server.api, userId, { traffic_limit_bytes: 100, node_protocol_ids: [p1.id] });
        await server.ctx.database.db
          .updateTable('vpn_subscriptions')
          .set({ used_up_bytes: 60, used_down_bytes: 40, lifetime_used_bytes: 100, status: 'limited' })
          .where('id', '=', s.id)
          .execute();
        const revoked = await server.api.post(`/api/v1/vpn/subscriptions/${s.id}/revoke`);
        assert.equal(revoked.status, 200);
        assert.notEqual(revoked.body.data.link_uuid, s.link_uuid);
        assert.ok(revoked.body.data.revoked_at);
        assert.equal((await server.api.get(`/api/v1/vpn/subscriptions?link_uuid=${s.link_uuid}`)).body.data.length, 0);
        assert.equal((await server.api.get(`/api/v1/vpn/subscriptions?link_uuid=${revoked.body.data.link_uuid}`)).body.data[0].id, s.id);

        const reset = await server.api.post(`/api/v1/vpn/subscriptions/${s.id}/reset_traffic`, {});
        assert.equal(reset.status, 200);
        assert.deepEqual([reset.body.data.used_bytes, reset.body.data.lifetime_used_bytes, reset.body.data.status], [0, 100, 'active']);
        assert.ok(reset.body.data.last_reset_at);
        await refusedWithoutChange(server, 400, [
          () => server.api.post(`/api/v1/vpn/subscriptions/${s.id}/revoke`, { reason: 'x' }),
          () => server.api.post(`/api/v1/vpn/subscriptions/${s.id}/reset_traffic`, [1]),
        ]);
        await refusedWithoutChange(server, 404, [
          () => server.api.post('/api/v1/vpn/subscriptions/999999/revoke'),
          () => server.api.post('/api/v1/vpn/subscriptions/999999/reset_traffic'),
        ]);
      });

      it('grants, lists, replaces and removes node protocols', async () => {
        const s = await createSubscription(server.api, userId);
        const added = await server.api.post(`/api/v1/vpn/subscriptions/${s.id}/protocols`, { node_protocol_ids: [p1.id] });
        assert.deepEqual(added.body.data.node_protocol_ids, [p1.id]);
        const again = await server.api.post(`/api/v1/vpn/subscriptions/${s.id}/protocols`, { node_protocol_ids: [p1.id, p2.id] });
        assert.deepEqual(again.body.data.node_protocol_ids, [p1.id, p2.id]);
        const listed = await server.api.get(`/api/v1/vpn/subscriptions/${s.id}/protocols?protocol=trojan`);
        assert.deepEqual(
          listed.body.data.map((p: any) => p.id),
          [p2.id],
        );
        const replaced = await server.api.request('PUT', `/api/v1/vpn/subscriptions/${s.id}/protocols`, { body: { node_protocol_ids: [p2.id] } });
        assert.deepEqual(replaced.body.data.node_protocol_ids, [p2.id]);
        assert.equal(
          (await server.api.get(`/api/v1/vpn/subscriptions?node_protocol_id=${p2.id}`)).body.data.some((x: any) => x.id === s.id),
          true,
        );
        assert.equal(
          (await server.api.get(`/api/v1/vpn/subscriptions?node_id=${node.id}&user_id=${userId}`)).body.data.some((x: any) => x.id === s.id),
          true,
        );

        await refusedWithoutChange(server, 422, [
          () => server.api.request('PUT', `/api/v1/vpn/subscriptions/${s.id}/protocols`, { body: { node_protocol_ids: [p1.id, 555555] } }),
          () => server.api.post(`/api/v1/vpn/subscriptions/${s.id}/protocols`, { node_protocol_ids: [555555] }),
        ]);
        await refusedWithoutChange(server, 404, [
          () => server.api.delete(`/api/v1/vpn/subscriptions/${s.id}/protocols/${p1.id}`),
          () => server.api.post('/api/v1/vpn/subscriptions/999999/protocols', { node_protocol_ids: [p1.id] }),
          () => server.api.get('/api/v1/vpn/subscriptions/999999/protocols'),
        ]);
        assert.equal((await server.api.delete(`/api/v1/vpn/subscriptions/${s.id}/protocols/${p2.id}`)).status, 204);
        assert.deepEqual((await server.api.get(`/api/v1/vpn/subscriptions/${s.id}`)).body.data.node_protocol_ids, []);
      });

      it('lists with filters and pagination, and deletes', async () => {
        const other = (await createUser(server.api)).id;
        const a = await createSubscription(server.api, other, { expires_at: '2030-01-01T00:00:00Z' });
        const b = await createSubscription(server.api, other, { traffic_limit_bytes: 10 });
        const list = await server.api.get(`/api/v1/vpn/subscriptions?user_id=${other}&order_by=id&order_directions=asc`);
        assert.deepEqual(
          list.body.data.map((s: any) => s.id),
          [a.id, b.id],
        );
        assert.deepEqual(
          (await server.api.get(`/api/v1/vpn/subscriptions?user_id=${other}&has_expiry=true`)).body.data.map((s: any) => s.id),
          [a.id],
        );
        assert.deepEqual(
          (await server.api.get(`/api/v1/vpn/subscriptions?user_id=${other}&is_unlimited=false`)).body.data.map((s: any) => s.id),
          [b.id],
        );
        assert.deepEqual(
          (await server.api.get(`/api/v1/vpn/subscriptions?user_id=${other}&expires_at__lte=2030-01-01`)).body.data.map((s: any) => s.id),
          [a.id],
        );
        const page = await server.api.get(`/api/v1/vpn/subscriptions?user_id=${other}&page=2&page_size=1&order_by=id`);
        assert.deepEqual(
          page.body.data.map((s: any) => s.id),
          [b.id],
        );
        assert.equal(page.body.meta.pagination.has_prev, true);
        assert.equal((await server.api.delete(`/api/v1/vpn/subscriptions/${a.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/vpn/subscriptions/${a.id}`)).status, 404);
        // Deleting the user takes the rest.
        assert.equal((await server.api.delete(`/api/v1/vpn/users/${other}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/vpn/subscriptions/${b.id}`)).status, 404);
      });
    });

    describe('Core nodes', () => {
      it('creates a node with a one-time registration code and hides it afterwards', async () => {
        const res = await server.api.post('/api/v1/vpn/nodes', { name: 'ams-1', host: 'ams1.vpn.example.com', region: 'eu-west' });
        assert.equal(res.status, 201);
        const node = res.body.data;
        assert.match(node.registration_code, /^npc_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
        assert.equal(node.code, node.registration_code.slice(0, 12));
        assert.equal(res.headers.get('location'), `/api/v1/vpn/nodes/${node.id}`);
        assert.deepEqual([node.status, node.sync_status, node.revision, node.applied_revision, node.registered], ['pending', 'pending', 1, null, false]);
        assert.ok(Number.isInteger(node.core_id));
        assert.deepEqual(node.routing_rules, [{ outbound_tag: 'block', protocol: ['bittorrent'] }]);
        const fetched = await server.api.get(`/api/v1/vpn/nodes/${node.id}`);
        assert.equal('registration_code' in fetched.body.data, false);
        assert.equal(fetched.text.includes(node.registration_code), false);
        const listed = await server.api.get('/api/v1/vpn/nodes?name=ams*&registered=false&status=pending');
        assert.deepEqual(
          listed.body.data.map((n: any) => n.id),
          [node.id],
        );
        // Core nodes do not show up as edge nodes.
        assert.equal((await server.api.get(`/api/v1/nodes/${node.id}`)).status, 404);
      });

      it('updates name, host, region, routing rules and the disabled flag', async () => {
        const node = await createNode(server.api);
        const outbound = await server.api.post('/api/v1/vpn/node_outbounds', {
          node_id: node.id,
          tag: 'warp',
          protocol: 'socks',
          settings: { servers: [{ address: '127.0.0.1', port: 40000 }] },
        });
        assert.equal(outbound.status, 201);
        await createProtocol(server.api, node.id, { protocol: 'vless', port: 443 });
        const before = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.revision;
        const rules = [
          { outbound_tag: 'warp', domain: ['domain:openai.com'] },
          { outbound_tag: 'block', protocol: ['bittorrent'] },
        ];
        const res = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, {
          name: 'renamed',
          host: 'new.vpn.example.com',
          region: null,
          routing_rules: rules,
          disabled: true,
        });
        assert.equal(res.status, 200);
        assert.deepEqual(
          [res.body.data.name, res.body.data.host, res.body.data.region, res.body.data.status],
          ['renamed', 'new.vpn.example.com', null, 'disabled'],
        );
        assert.deepEqual(res.body.data.routing_rules, rules);
        assert.equal(res.body.data.revision, before + 1, 'the new rule changed the config');
        assert.equal((await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { disabled: false })).body.data.status, 'pending');
        const config = (await server.api.get(`/api/v1/vpn/nodes/${node.id}/config`)).body.data;
        // The operator's rules follow the private-destination block (destinations.ts).
        assert.equal(config.services.xray.routing.rules[0].outboundTag, 'block');
        assert.deepEqual(config.services.xray.routing.rules.slice(1), [
          { type: 'field', outboundTag: 'warp', domain: ['domain:openai.com'] },
          { type: 'field', outboundTag: 'block', protocol: ['bittorrent'] },
        ]);
        assert.deepEqual(
          config.services.xray.outbounds.map((o: any) => o.tag),
          ['direct', 'warp', 'block'],
        );
        const bare = await createNode(server.api);
        assert.deepEqual(
          (await server.api.get(`/api/v1/vpn/nodes/${bare.id}/config`)).body.data,
          { revision: 1, clientMap: {}, services: {} },
          'no protocols, no services',
        );
      });

      it('refuses rules naming unknown outbounds or protocols, empty rules and bad values, storing nothing', async () => {
        const node = await createNode(server.api);
        const bad = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, {
          routing_rules: [{ outbound_tag: 'nowhere', domain: ['x.com'] }, { outbound_tag: 'direct', node_protocol_ids: [424242] }, { outbound_tag: 'direct' }],
        });
        assert.equal(bad.status, 422);
        assert.deepEqual(Object.keys(bad.body.error.details).sort(), ['routing_rules/0/outbound_tag', 'routing_rules/1/node_protocol_ids', 'routing_rules/2']);
        await refusedWithoutChange(server, 422, [
          () => server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { routing_rules: [{ outbound_tag: 'nowhere', ip: ['1.1.1.1'] }] }),
          () => server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'x.example.com', routing_rules: [{ outbound_tag: 'warp', port: '443' }] }),
        ]);
        await refusedWithoutChange(server, 400, [
          () => server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'bad host' }),
          () => server.api.post('/api/v1/vpn/nodes', { name: '', host: 'x.example.com' }),
          () => server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'x.example.com', ip: '300.1.1.1' }),
          () => server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'x.example.com', routing_rules: [{ outbound_tag: 'direct', port: '80;rm -rf' }] }),
          () => server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'x.example.com', routing_rules: [{ outbound_tag: 'direct', protocol: ['smtp'] }] }),
          () => server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { status: 'online' }),
          () => server.api.get('/api/v1/vpn/nodes/not-a-uuid'),
          () => server.api.get('/api/v1/vpn/nodes?core_id=abc'),
        ]);
        await refusedWithoutChange(server, 404, [
          () => server.api.get('/api/v1/vpn/nodes/018f3c1e-0000-7000-8000-000000000000'),
          () => server.api.patch('/api/v1/vpn/nodes/018f3c1e-0000-7000-8000-000000000000', { name: 'x' }),
          () => server.api.post('/api/v1/vpn/nodes/018f3c1e-0000-7000-8000-000000000000/reset_code'),
          () => server.api.get('/api/v1/vpn/nodes/018f3c1e-0000-7000-8000-000000000000/config'),
          () => server.api.delete('/api/v1/vpn/nodes/018f3c1e-0000-7000-8000-000000000000'),
        ]);
      });

      it('deletes a node with its protocols, outbounds and grants', async () => {
        const node = await createNode(server.api);
        const p = await createProtocol(server.api, node.id, { protocol: 'vmess', port: 1234 });
        const user = await createUser(server.api);
        const s = await createSubscription(server.api, user.id, { node_protocol_ids: [p.id] });
        assert.equal((await server.api.delete(`/api/v1/vpn/nodes/${node.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).status, 404);
        assert.equal((await server.api.get(`/api/v1/vpn/node_protocols/${p.id}`)).status, 404);
        assert.deepEqual((await server.api.get(`/api/v1/vpn/subscriptions/${s.id}`)).body.data.node_protocol_ids, []);
      });
    });

    describe('node protocols', () => {
      let node: Awaited<ReturnType<typeof createNode>>;
      before(async () => {
        node = await createNode(server.api);
      });

      it('creates VLESS+REALITY with a generated key pair, showing only the public key', async () => {
        const res = await server.api.post('/api/v1/vpn/node_protocols', {
          node_id: node.id,
          protocol: 'vless',
          port: 443,
          security: 'reality',
          flow: 'xtls-rprx-vision',
          remark: 'main',
          reality_settings: {
            target: 'www.microsoft.com:443',
            server_names: ['www.microsoft.com'],
            short_ids: ['', '6ba85179e30d4fc2'],
            fingerprint: 'chrome',
          },
        });
        assert.equal(res.status, 201);
        const p = res.body.data;
        assert.equal(p.tag, `np-${p.id}`);
        assert.equal(p.transport, 'tcp');
        assert.match(p.reality_settings.public_key, /^[A-Za-z0-9_-]{43}$/);
        assert.equal('private_key' in p.reality_settings, false);
        // Operators' preview redacts it; the node gets the key whose public half the API shows.
        const preview = (await server.api.get(`/api/v1/vpn/nodes/${node.id}/config`)).body.data;
        assert.equal(preview.services.xray.inbounds[0].streamSettings.realitySettings.privateKey, '[redacted]');
        const register = await server.api
          .withToken(null)
          .post('/node/register', { code: node.registration_code, name: 'n', host: node.host, ip: '192.0.2.1', region: '' });
        const served = await server.api.withToken(null).request('GET', '/node/config/latest', { headers: { 'x-node-auth-key': register.body.authKey } });
        const privateKey = served.body.services.xray.inbounds[0].streamSettings.realitySettings.privateKey;
        assert.equal(realityPublicKey(privateKey), p.reality_settings.public_key);
        assert.equal(JSON.stringify(p).includes(privateKey), false);
        // Updating other settings keeps the key.
        const patched = await server.api.patch(`/api/v1/vpn/node_protocols/${p.id}`, {
          reality_settings: { target: 'www.apple.com:443', server_names: ['www.apple.com'] },
        });
        assert.equal(patched.body.data.reality_settings.public_key, p.reality_settings.public_key);
        assert.equal(patched.body.data.reality_settings.target, 'www.apple.com:443');
      });

      it('accepts TLS, Shadowsocks (AEAD and 2022) and MTProto settings and keeps secrets write-only', async () => {
        const tls = await server.api.post('/api/v1/vpn/node_protocols', {
          node_id: node.id,
          protocol: 'trojan',
          port: 8443,
          security: 'tls',
          tls_settings: {
            server_name: 'tr.example.com',
            certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
            key: '-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----',
          },
        });
        assert.equal(tls.status, 201, tls.text);
        assert.equal(tls.body.data.tls_settings.has_inline_key, true);
        assert.equal(tls.text.includes('SECRETKEY'), false);
        assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}/config`)).text.includes('SECRETKEY'), false, 'not in the preview either');
        const ss = await server.api.post('/api/v1/vpn/node_protocols', {
          node_id: node.id,
          protocol: 'shadowsocks',
          port: 8388,
          ss_method: '2022-blake3-aes-256-gcm',
        });
        assert.equal(ss.status, 201, ss.text);
        assert.equal(ss.body.data.ss_method, '2022-blake3-aes-256-gcm');
        const mt = await server.api.post('/api/v1/vpn/node_protocols', {
          node_id: node.id,
          protocol: 'mtproto',
          port: 993,
          mtproto_settings: { tls_domain: 'www.google.com', extra_tls_domains: ['www.bing.com'] },
        });
        assert.equal(mt.status, 201, mt.text);
        assert.deepEqual(mt.body.data.mtproto_settings, {
          tls_domain: 'www.google.com',
          extra_tls_domains: ['www.bing.com'],
          mask: true,
          use_middle_proxy: false,
        });
        assert.equal(mt.body.data.transport, null);
        const second = await server.api.post('/api/v1/vpn/node_protocols', {
          node_id: node.id,
          protocol: 'mtproto',
          port: 994,
          mtproto_settings: { tls_domain: 'www.google.com' },
        });
        assert.equal(second.status, 409);
        const list = await server.api.get(`/api/v1/vpn/node_protocols?node_id=${node.id}&protocol=shadowsocks,mtproto`);
        assert.deepEqual(list.body.data.map((p: any) => p.protocol).sort(), ['mtproto', 'shadowsocks']);
      });

      it('refuses combinations the cores cannot run with 422, and bad values with 400, storing nothing', async () => {
        const cases: Array<[Record<string, unknown>, string]> = [
          [{ protocol: 'vless', port: 2001, transport: 'ws', flow: 'xtls-rprx-vision' }, 'flow'],
          [{ protocol: 'vmess', port: 2002, flow: 'xtls-rprx-vision' }, 'flow'],
          [{ protocol: 'vless', port: 2003, security: 'reality' }, 'reality_settings'],
          [{ protocol: 'vmess', port: 2004, security: 'reality', reality_settings: { target: 'a.com:443', server_names: ['a.com'] } }, 'security'],
          [
            { protocol: 'vless', port: 2005, transport: 'ws', security: 'reality', reality_settings: { target: 'a.com:443', server_names: ['a.com'] } },
            'security',
          ],
          [{ protocol: 'trojan', port: 2006, security: 'tls' }, 'tls_settings'],
          [{ protocol: 'trojan', port: 2007, security: 'tls', tls_settings: { certificate_file: '/etc/c.pem' } }, 'tls_settings'],
          [{ protocol: 'trojan', port: 2008, tls_settings: { certificate_file: '/c', key_file: '/k' } }, 'tls_settings'],
          [{ protocol: 'shadowsocks', port: 2009 }, 'ss_method'],
          [{ protocol: 'shadowsocks', port: 2010, ss_method: '2022-blake3-aes-128-gcm', ss_server_key: 'AAAA' }, 'ss_server_key'],
          [{ protocol: 'shadowsocks', port: 2011, ss_method: 'aes-128-gcm', transport: 'ws' }, 'transport'],
          [{ protocol: 'vless', port: 2012, ss_method: 'aes-128-gcm' }, 'ss_method'],
          [{ protocol: 'mtproto', port: 2013 }, 'mtproto_settings'],
          [{ protocol: 'mtproto', port: 2014, transport: 'tcp', mtproto_settings: { tls_domain: 'a.com' } }, 'transport'],
          [{ protocol: 'vless', port: 2015, transport: 'grpc' }, 'transport_settings/service_name'],
          [{ protocol: 'vless', port: 2016, transport: 'tcp', transport_settings: { path: '/x' } }, 'transport_settings/path'],
        ];
        for (const [body, field] of cases) {
          const res = await server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, ...body });
          assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
          assert.ok(field in res.body.error.details, `${field} in ${JSON.stringify(res.body.error.details)}`);
        }
        await refusedWithoutChange(server, 422, [
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: '018f3c1e-0000-7000-8000-000000000000', protocol: 'vless', port: 443 }),
          ...cases.map(
            ([body]) =>
              () =>
                server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, ...body }),
          ),
        ]);
        await refusedWithoutChange(server, 400, [
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'wireguard', port: 51820 }),
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'vless', port: 70000 }),
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'vless', port: 0 }),
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'vless', port: 2100, transport: 'kcp' }),
          () =>
            server.api.post('/api/v1/vpn/node_protocols', {
              node_id: node.id,
              protocol: 'vless',
              port: 2101,
              security: 'reality',
              reality_settings: { target: 'a.com:443', server_names: ['a.com'], private_key: 'short' },
            }),
          () =>
            server.api.post('/api/v1/vpn/node_protocols', {
              node_id: node.id,
              protocol: 'vless',
              port: 2102,
              security: 'reality',
              reality_settings: { target: 'a.com:443', server_names: ['a.com'], short_ids: ['xyz'] },
            }),
          () =>
            server.api.post('/api/v1/vpn/node_protocols', {
              node_id: node.id,
              protocol: 'vless',
              port: 2103,
              transport: 'ws',
              transport_settings: { path: 'no-slash' },
            }),
          () =>
            server.api.post('/api/v1/vpn/node_protocols', {
              node_id: node.id,
              protocol: 'trojan',
              port: 2104,
              security: 'tls',
              tls_settings: { certificate_file: '../etc/passwd', key_file: '/k' },
            }),
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: 'nope', protocol: 'vless', port: 443 }),
          () => server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'vless' }),
          () => server.api.get('/api/v1/vpn/node_protocols/1.5'),
        ]);
      });

      it('refuses a taken port (409), updates and deletes', async () => {
        const p = await createProtocol(server.api, node.id, { protocol: 'vmess', port: 3000 });
        const taken = await server.api.post('/api/v1/vpn/node_protocols', { node_id: node.id, protocol: 'trojan', port: 3000 });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.error.message, 'port has already been taken');
        const moved = await server.api.patch(`/api/v1/vpn/node_protocols/${p.id}`, {
          port: 3001,
          transport: 'ws',
          transport_settings: { path: '/vm', host: 'cdn.example.com' },
          enabled: false,
        });
        assert.equal(moved.status, 200);
        assert.deepEqual([moved.body.data.port, moved.body.data.transport, moved.body.data.enabled], [3001, 'ws', false]);
        assert.deepEqual(moved.body.data.transport_settings, { path: '/vm', host: 'cdn.example.com' });
        assert.equal((await server.api.patch(`/api/v1/vpn/node_protocols/${p.id}`, { protocol: 'vless' })).status, 400, 'the protocol never changes');
        assert.equal((await server.api.delete(`/api/v1/vpn/node_protocols/${p.id}`)).status, 204);
        assert.equal((await server.api.delete(`/api/v1/vpn/node_protocols/${p.id}`)).status, 404);
      });
    });

    describe('node outbounds', () => {
      it('creates, lists, renames, updates and deletes outbounds with their traffic counters', async () => {
        const node = await createNode(server.api);
        const res = await server.api.post('/api/v1/vpn/node_outbounds', {
          node_id: node.id,
          tag: 'warp',
          protocol: 'wireguard',
          settings: { secretKey: 'k', peers: [{ publicKey: 'p', endpoint: '162.159.192.1:2408' }] },
        });
        assert.equal(res.status, 201);
        const o = res.body.data;
        assert.deepEqual([o.traffic_bytes_up, o.traffic_bytes_down, o.stream_settings], [0, 0, {}]);
        assert.equal((await server.api.get(`/api/v1/vpn/node_outbounds?node_id=${node.id}&tag=wa*`)).body.data.length, 1);

        const taken = await server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'warp', protocol: 'freedom' });
        assert.equal(taken.status, 409);
        await refusedWithoutChange(server, 422, [
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'direct', protocol: 'freedom' }),
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'np-5', protocol: 'freedom' }),
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: '018f3c1e-0000-7000-8000-000000000000', tag: 'x', protocol: 'freedom' }),
          () => server.api.patch(`/api/v1/vpn/node_outbounds/${o.id}`, { tag: 'block' }),
        ]);
        await refusedWithoutChange(server, 400, [
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'has space', protocol: 'freedom' }),
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'x', protocol: 'telnet' }),
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'x', protocol: 'freedom', settings: 'text' }),
          () => server.api.post('/api/v1/vpn/node_outbounds', { node_id: node.id, tag: 'x', protocol: 'freedom', settings: [1] }),
        ]);

        await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { routing_rules: [{ outbound_tag: 'warp', ip: ['8.8.8.8/32'] }] });
        await refusedWithoutChange(server, 409, [
          () => server.api.patch(`/api/v1/vpn/node_outbounds/${o.id}`, { tag: 'warp2' }),
          () => server.api.delete(`/api/v1/vpn/node_outbounds/${o.id}`),
        ]);
        const updated = await server.api.patch(`/api/v1/vpn/node_outbounds/${o.id}`, { stream_settings: { sockopt: { mark: 255 } } });
        assert.deepEqual(updated.body.data.stream_settings, { sockopt: { mark: 255 } });
        const config = (await server.api.get(`/api/v1/vpn/nodes/${node.id}/config`)).body.data;
        assert.equal(config.services.xray, undefined, 'no inbounds, no xray service');
        await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { routing_rules: [] });
        assert.equal((await server.api.patch(`/api/v1/vpn/node_outbounds/${o.id}`, { tag: 'warp2' })).body.data.tag, 'warp2');
        assert.equal((await server.api.delete(`/api/v1/vpn/node_outbounds/${o.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/vpn/node_outbounds/${o.id}`)).status, 404);
      });
    });

    it('requires the Admin API key on every VPN route', async () => {
      for (const path of ['/api/v1/vpn/users', '/api/v1/vpn/subscriptions', '/api/v1/vpn/nodes', '/api/v1/vpn/node_protocols', '/api/v1/vpn/node_outbounds']) {
        assert.equal((await server.api.withToken('wrong').get(path)).status, 401, path);
        assert.equal((await server.api.withToken(null).post(path, {})).status, 401, path);
      }
    });
  });
}
