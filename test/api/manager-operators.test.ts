/**
 * The manager face's operator surface over https: sign-in with cookies used on the node routes,
 * users in the manager's shapes, settings, the listener's certificate (info and upload), export, and
 * the events API fed by an emulated edge (filters, search, node scope, count, ack).
 */
import { eventually } from '../helpers/eventually.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { generateSelfSignedCert } from '../../src/server/lib/self-signed-cert.ts';
import { bilbycastEdge } from '../helpers/bilbycast-edge.ts';
import { loginAs, PASSWORD } from '../helpers/operators.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

for (const engine of testEngines()) {
  describe(`manager operators over https [${engine}]`, () => {
    let server: TestServer;
    const running: Array<{ stop(): Promise<void> }> = [];

    const createUser = async (body: Record<string, unknown> = {}) => {
      const res = await server.managerApi.post('/api/v1/users', {
        username: `op-${Math.random().toString(36).slice(2, 8)}`,
        password: PASSWORD,
        display_name: 'Op',
        role: 'viewer',
        ...body,
      });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const signIn = (username: string) => loginAs(server.managerApi, username);
    const createNode = async () => {
      const res = await server.managerApi.post('/api/v1/nodes', { name: `n-${Math.random().toString(36).slice(2, 8)}` });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const connectedEdge = async () => {
      const node = await createNode();
      const edge = bilbycastEdge({
        urls: [`${server.managerUrl.replace('https', 'wss')}/ws/node`],
        ca: server.managerCert,
        registration_token: node.registration_token,
      });
      running.push(edge);
      assert.deepEqual(await edge.connect(), { type: 'register_ack' });
      return { node, edge };
    };

    before(async () => {
      server = await startServer(engine);
    });
    after(async () => {
      for (const node of running) await node.stop();
      await server.stop();
    });

    it('signs in on the manager listener with cookies and uses the session on the node routes; logout ends it', async () => {
      const admin = await createUser({ role: 'admin' });
      const session = await signIn(admin.username);
      const node = await createNode();
      const nodes = await session.get('/api/v1/nodes');
      assert.equal(nodes.status, 200);
      assert.ok(nodes.body.some((n: any) => n.id === node.id));
      const refused = await session.withHeaders({ 'x-csrf-token': 'wrong' }).post('/api/v1/auth/logout', {});
      assert.equal(refused.status, 403);
      const out = await session.post('/api/v1/auth/logout', {});
      assert.equal(out.status, 200, out.text);
      assert.deepEqual(out.body, { success: true });
      assert.equal((await session.get('/api/v1/nodes')).status, 401);
    });

    it('manages users in the manager shapes: bare UserInfo, 201, 204, {"error"} 400/403/404', async () => {
      const user = await createUser({ role: 'operator', allowed_node_ids: null });
      assert.equal(typeof user.id, 'string');
      assert.equal(user.role, 'operator');
      assert.equal(user.password_hash, undefined);
      const list = await server.managerApi.get('/api/v1/users');
      assert.ok(Array.isArray(list.body) && list.body.some((u: any) => u.id === user.id));
      assert.equal((await server.managerApi.get(`/api/v1/users/${user.id}`)).body.username, user.username);
      const changed = await server.managerApi.put(`/api/v1/users/${user.id}`, { display_name: 'Renamed' });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.body.display_name, 'Renamed');
      const bad = await server.managerApi.post('/api/v1/users', { username: '-bad', password: 'x', role: 'viewer' });
      assert.equal(bad.status, 400);
      assert.equal(typeof bad.body.error, 'string');
      const operator = await signIn(user.username);
      const forbidden = await operator.get('/api/v1/users');
      assert.equal(forbidden.status, 403);
      assert.equal(typeof forbidden.body.error, 'string');
      assert.equal((await server.managerApi.delete(`/api/v1/users/${user.id}`)).status, 204);
      const gone = await server.managerApi.get(`/api/v1/users/${user.id}`);
      assert.equal(gone.status, 404);
      assert.equal(typeof gone.body.error, 'string');
    });

    it('reads settings as a map and saves them all or none, naming a bad key', async () => {
      const before = await server.managerApi.get('/api/v1/settings');
      assert.equal(before.status, 200);
      assert.equal(before.body.events_retention_days, 30);
      const saved = await server.managerApi.put('/api/v1/settings', { settings: { events_retention_days: 12 } });
      assert.equal(saved.status, 200, saved.text);
      assert.equal(saved.text, '');
      const refused = await server.managerApi.put('/api/v1/settings', { settings: { events_retention_days: 13, stats_broadcast_interval_ms: 5 } });
      assert.equal(refused.status, 400);
      assert.match(refused.body.error, /stats_broadcast_interval_ms/);
      const unknown = await server.managerApi.put('/api/v1/settings', { settings: { nope: 1 } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.error, /nope/);
      assert.equal((await server.managerApi.get('/api/v1/settings')).body.events_retention_days, 12);
    });

    it("describes the listener's certificate and replaces it only with a valid matching pair", async () => {
      const info = await server.managerApi.get('/api/v1/settings/tls');
      assert.equal(info.status, 200, info.text);
      assert.equal(info.body.is_self_signed, true);
      assert.equal(info.body.subject, info.body.issuer);
      assert.ok(Date.parse(info.body.not_after) > Date.now());
      assert.equal(readFileSync(info.body.cert_path, 'utf8'), server.managerCert);

      const one = generateSelfSignedCert({ commonName: 'one.example', altNames: ['one.example'], validDays: 30 });
      const two = generateSelfSignedCert({ commonName: 'two.example', altNames: ['two.example'], validDays: 30 });
      const mismatched = await server.managerApi.post('/api/v1/settings/tls/upload', { cert_pem: one.certPem, key_pem: two.keyPem });
      assert.equal(mismatched.status, 200, mismatched.text);
      assert.equal(mismatched.body.success, false);
      assert.match(mismatched.body.error, /does not match/);
      const garbage = await server.managerApi.post('/api/v1/settings/tls/upload', { cert_pem: 'not a certificate', key_pem: one.keyPem });
      assert.equal(garbage.body.success, false, garbage.text);
      assert.equal(readFileSync(info.body.cert_path, 'utf8'), server.managerCert);

      const accepted = await server.managerApi.post('/api/v1/settings/tls/upload', { cert_pem: one.certPem, key_pem: one.keyPem });
      assert.equal(accepted.status, 200, accepted.text);
      assert.equal(accepted.body.success, true);
      assert.match(accepted.body.message, /Restart/);
      assert.equal(readFileSync(info.body.cert_path, 'utf8'), one.certPem);
      assert.equal(readFileSync(info.body.key_path, 'utf8'), one.keyPem);
      // Served after a restart only: the listener still answers with the old certificate.
      assert.equal((await server.managerApi.get('/api/v1/settings/tls')).body.subject, info.body.subject);
    });

    it('exports the plane for a super_admin only', async () => {
      const doc = await server.managerApi.get('/api/v1/export');
      assert.equal(doc.status, 200, doc.text);
      assert.equal(doc.body.version, 1);
      const admin = await signIn((await createUser({ role: 'admin' })).username);
      assert.equal((await admin.get('/api/v1/export')).status, 403);
    });

    it('lists, filters, searches, counts and acknowledges the events an edge sends, within the node scope', async () => {
      const { node, edge } = await connectedEdge();
      const other = await connectedEdge();
      edge.sendEvent({ severity: 'warning', category: 'flow', message: 'Input 100%_lost on flow A', flow_id: 'flow-a' });
      edge.sendEvent({ severity: 'critical', category: 'srt', message: 'SRT peer gone' });
      other.edge.sendEvent({ severity: 'info', category: 'flow', message: 'Other node event' });
      const mine = await eventually(async () => {
        const res = await server.managerApi.get(`/api/v1/events?node_id=${node.id}`);
        return res.body.length >= 3 && res.body;
      });
      assert.equal(typeof mine[0].id, 'number');
      assert.ok(mine[0].id > mine[1].id, 'newest first');
      assert.deepEqual(mine.map((e: any) => e.message).slice(0, 2), ['SRT peer gone', 'Input 100%_lost on flow A']);
      assert.equal((await server.managerApi.get(`/api/v1/events?node_id=${node.id}&severity=critical`)).body.length, 1);
      assert.equal((await server.managerApi.get(`/api/v1/events?flow_id=flow-a`)).body[0].flow_id, 'flow-a');
      const literal = await server.managerApi.get(`/api/v1/events?search=${encodeURIComponent('100%_l')}`);
      assert.deepEqual(
        literal.body.map((e: any) => e.message),
        ['Input 100%_lost on flow A'],
      );
      assert.equal((await server.managerApi.get(`/api/v1/events?search=${encodeURIComponent('%')}`)).body.length, 1);
      assert.equal((await server.managerApi.get(`/api/v1/events?search=${'x'.repeat(257)}`)).status, 400);
      assert.equal((await server.managerApi.get(`/api/v1/events?per_page=201`)).status, 400);
      const paged = await server.managerApi.get(`/api/v1/events?node_id=${node.id}&per_page=1&page=2`);
      assert.equal(paged.body[0].id, mine[1].id);

      const viewer = await signIn((await createUser({ role: 'viewer', allowed_node_ids: [other.node.id] })).username);
      const seen = await viewer.get('/api/v1/events');
      assert.ok(seen.body.length > 0 && seen.body.every((e: any) => e.node_id === other.node.id));
      assert.equal((await viewer.post(`/api/v1/events/${mine[0].id}/ack`)).status, 403);

      const operator = await createUser({ role: 'operator', allowed_node_ids: [node.id] });
      const opSession = await signIn(operator.username);
      const before = (await opSession.get('/api/v1/events/count')).body.count;
      assert.equal(before, mine.length);
      const ack = await opSession.post(`/api/v1/events/${mine[0].id}/ack`);
      assert.equal(ack.status, 200, ack.text);
      assert.equal((await opSession.get('/api/v1/events/count')).body.count, before - 1);
      const acked = (await opSession.get(`/api/v1/events?node_id=${node.id}`)).body.find((e: any) => e.id === mine[0].id);
      assert.equal(acked.acknowledged, true);
      assert.equal(acked.acknowledged_by, operator.id);
      const hidden = (await opSession.get(`/api/v1/events?node_id=${other.node.id}`)).body;
      assert.deepEqual(hidden, []);
      const otherId = (await server.managerApi.get(`/api/v1/events?node_id=${other.node.id}`)).body[0].id;
      assert.equal((await opSession.post(`/api/v1/events/${otherId}/ack`)).status, 404);
    });
  });
}
