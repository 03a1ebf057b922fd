/**
 * The audit log: every state-changing Admin API call is recorded with its caller, action, target,
 * answer and address — refused ones too — listed newest first with filters and pages, and carried
 * to webhooks as `audit.recorded`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { createOperator, login, loginAs, nextAddress, PASSWORD, signedIn, tokenFor } from '../helpers/operators.ts';
import { eventsOf } from '../helpers/stream-agent.ts';
import { until } from '../helpers/processes.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { routeAudit } from '../../src/server/faces/admin/audit-trail.ts';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SECRET = 'a-cryptographically-random-32-byte-secret';
/** A string that must never reach the audit log (a password, a passphrase…). */
const secret = (what: string) => `${what}-${randomBytes(8).toString('hex')}-Aa1!`;

for (const engine of testEngines()) {
  describe(`audit log [${engine}]`, () => {
    let server: TestServer;
    const audit = async (query: string) => {
      const res = await server.api.get(`/api/v1/audit?${query}`);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };

    before(async () => {
      server = await startServer(engine, { WEBHOOK_ALLOW_PRIVATE_IPS: 'true' });
    });
    after(() => server.stop());

    it('records a created cluster: the master key, the action, the new cluster, the answer and the address', async () => {
      const cluster = await createCluster(server.api);
      const { data } = await audit(`target_id=${cluster.id}`);
      assert.equal(data.length, 1);
      const row = data[0];
      assert.deepEqual(
        { ...row, id: undefined, at: undefined },
        {
          id: undefined,
          at: undefined,
          actor_type: 'api-key',
          actor_id: 'master',
          actor_name: 'master',
          action: 'cluster.create',
          target_type: 'cluster',
          target_id: cluster.id,
          method: 'POST',
          path: '/api/v1/clusters',
          status: 201,
          ip: '127.0.0.1',
          details: null,
        },
      );
      assert.ok(Date.now() - Date.parse(row.at) < 60_000);
    });

    it('records a write refused for a wrong key, with its status and no caller, and stores nothing else', async () => {
      const name = `refused-${Date.now()}`;
      const res = await server.api.withToken('wrong-key').post('/api/v1/clusters', { name });
      assert.equal(res.status, 401);
      const { data } = await audit('actor_type=public&action=cluster.create');
      assert.equal(data[0].status, 401);
      assert.equal(data[0].actor_id, null);
      assert.equal(data[0].target_id, null);
      assert.equal((await server.api.get(`/api/v1/clusters/${name}`)).status, 404);
    });

    it('records refused input with the target named in the path, even one Postgres text cannot hold', async () => {
      const res = await server.api.delete('/api/v1/clusters/bad%00name');
      assert.ok(res.status >= 400 && res.status < 500, res.text);
      const { data } = await audit('action=cluster.delete');
      assert.equal(data[0].status, res.status);
      assert.equal(data[0].target_id, 'bad\uFFFDname');
      assert.equal(data[0].path, '/api/v1/clusters/bad%00name');
    });

    it('names a verb after an id and targets the id', async () => {
      const cluster = await createCluster(server.api);
      const key = (await server.api.post(`/api/v1/clusters/${cluster.name}/enrollment_keys`, {})).body.data;
      assert.equal((await server.api.delete(`/api/v1/enrollment_keys/${key.id}`)).status, 204);
      const { data } = await audit(`target_type=enrollment_key&target_id=${key.id}`);
      assert.deepEqual(
        data.map((r: any) => [r.action, r.status]),
        [
          ['enrollment_key.delete', 204],
          ['enrollment_key.create', 201],
        ],
      );
    });

    it('records no reads and none of the agents face, where nodes report', async () => {
      const cluster = await createCluster(server.api);
      await server.api.get('/api/v1/clusters');
      const agent = await registerAgent(server.api, { cluster });
      assert.equal((await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
      const { data } = await audit('per_page=100');
      assert.ok(data.every((r: any) => WRITES.has(r.method)));
      assert.ok(data.every((r: any) => !r.path.startsWith('/api/v1/agents')));
    });

    it('filters by actor, action (wildcards too), target and time, newest first, in pages', async () => {
      const clusters = [await createCluster(server.api), await createCluster(server.api), await createCluster(server.api)];
      const first = await audit('action=cluster.create&actor_type=api-key&per_page=2');
      assert.equal(first.data.length, 2);
      assert.deepEqual(
        first.data.map((r: any) => r.target_id),
        [clusters[2]!.id, clusters[1]!.id],
      );
      assert.equal(first.meta.pagination.page_size, 2);
      assert.equal(first.meta.pagination.has_next, true);
      const second = await audit('action=cluster.create&actor_type=api-key&per_page=2&page=2');
      assert.equal(second.data[0].target_id, clusters[0]!.id);

      const wildcard = await audit('action=cluster.*&actor_id=master&page_size=100');
      assert.ok(wildcard.data.every((r: any) => r.action.startsWith('cluster.') && r.actor_id === 'master'));
      assert.ok(wildcard.data.length >= 3);

      const at = Date.parse(first.data[0].at);
      const bound = (ms: number) => new Date(ms).toISOString();
      assert.equal((await audit(`action=cluster.create&from=${bound(at + 1000)}`)).data.length, 0);
      assert.equal((await audit(`action=cluster.create&to=${bound(at - 60_000)}`)).data.length, 0);
      assert.equal((await audit(`action=cluster.create&from=${bound(at)}&to=${bound(at)}`)).data[0].target_id, clusters[2]!.id);
    });

    it('refuses bad filters with 400 and callers without a key with 401', async () => {
      for (const query of ['actor_type=robot', 'from=yesterday', 'per_page=0', 'per_page=101', 'colour=red']) {
        const res = await server.api.get(`/api/v1/audit?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, 'bad_request');
      }
      assert.equal((await server.api.withToken(null).get('/api/v1/audit')).status, 401);
    });

    it('delivers every record to webhooks subscribed to audit.recorded', async () => {
      const receiver = await new WebhookReceiver(SECRET).start();
      try {
        const hook = await server.api.post('/api/v1/webhooks', { url: receiver.url, secret: SECRET, subscribed_events: ['audit.recorded'] });
        assert.equal(hook.status, 201, hook.text);
        const cluster = await createCluster(server.api);
        const delivered = await until(
          async () => receiver.requests.find((r) => (r.event?.data as any)?.target_id === cluster.id),
          'the audit.recorded delivery',
          10_000,
        );
        assert.equal(delivered.event!.type, 'audit.recorded');
        assert.equal(delivered.signatureValid, true);
        const { data } = await audit(`target_id=${cluster.id}`);
        assert.deepEqual(delivered.event!.data, data[0]);
      } finally {
        await receiver.stop();
      }
    });

    /** Every audit row matching `query`, all pages. */
    const everyRow = async (query = '') => {
      const rows: any[] = [];
      for (let page = 1; ; page++) {
        const { data, meta } = await audit(`${query}&per_page=100&page=${page}`);
        rows.push(...data);
        if (!meta.pagination.has_next) return rows;
      }
    };
    /** The whole audit log and every `audit.recorded` event, as text. */
    const everything = async () => JSON.stringify([await everyRow(), await eventsOf(server, 'audit.recorded')]);

    it('records a sign-in as auth.login with the operator and the session, and the sign-out of that session as auth.logout', async () => {
      const operator = await createOperator(server.api);
      const client = await loginAs(server.api, operator.username);
      const [signIn, ...more] = (await audit(`action=auth.login&actor_id=${operator.id}`)).data;
      assert.equal(more.length, 0);
      assert.equal(signIn.actor_type, 'operator');
      assert.equal(signIn.actor_name, operator.username);
      assert.equal(signIn.status, 200);
      assert.match(signIn.ip, /^10\./, 'the address the sign-in came from');
      assert.equal(typeof signIn.details.session_id, 'string');

      assert.equal((await client.post('/api/v1/auth/logout', {})).status, 200);
      const [signOut] = (await audit(`action=auth.logout&actor_id=${operator.id}`)).data;
      assert.equal(signOut.actor_name, operator.username);
      assert.equal(signOut.details.session_id, signIn.details.session_id);
    });

    it('records a form sign-in as auth.login wherever it goes next, and a refused one as auth.login_failed', async () => {
      const operator = await createOperator(server.api);
      const form = (password: string, next: string) =>
        fetch(`${server.url}/api/v1/auth/login-form`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': nextAddress() },
          body: new URLSearchParams({ username: operator.username, password, next }).toString(),
        });
      const wrong = secret('form-password');
      assert.equal((await form(wrong, '/dashboard')).headers.get('location'), '/login?error=invalid');
      const signedInRes = await form(PASSWORD, '/login?error=invalid');
      assert.equal(signedInRes.status, 303);
      assert.ok(signedInRes.headers.getSetCookie().some((c) => c.startsWith('session=')));

      const rows = (await everyRow('action=auth.*')).filter((r) => r.actor_id === operator.id || r.details?.username === operator.username);
      assert.deepEqual(
        rows.map((r) => [r.action, r.actor_id]),
        [
          ['auth.login', operator.id],
          ['auth.login_failed', null],
        ],
      );
      assert.ok(!(await everything()).includes(wrong));
    });

    it('records a failed login with the attempted username and never the password', async () => {
      const operator = await createOperator(server.api);
      const wrong = secret('wrong-password');
      assert.equal((await login(server.api, operator.username, wrong)).status, 401);
      const unknown = `nobody-${randomBytes(4).toString('hex')}`;
      assert.equal((await login(server.api, unknown, wrong)).status, 401);
      const failed = (await everyRow('action=auth.login_failed')).filter((r) => [operator.username, unknown].includes(r.details.username));
      assert.deepEqual(
        failed.map((r) => [r.details.username, r.actor_type, r.actor_id, r.status]),
        [
          [unknown, 'public', null, 401],
          [operator.username, 'public', null, 401],
        ],
      );
      assert.ok(!(await everything()).includes(wrong), 'the password is in no audit row or event');
    });

    it("records users' creation, update and deletion by a super_admin, with the user as the target", async () => {
      const admin = await signedIn(server.api, { role: 'super_admin' });
      const created = await admin.post('/api/v1/users', { username: `u-${randomBytes(4).toString('hex')}`, password: PASSWORD, role: 'viewer' });
      assert.equal(created.status, 201, created.text);
      const id = created.body.data.id;
      assert.equal((await admin.put(`/api/v1/users/${id}`, { role: 'operator' })).status, 200);
      assert.equal((await admin.delete(`/api/v1/users/${id}`)).status, 204);
      const { data } = await audit(`target_type=user&target_id=${id}`);
      assert.deepEqual(
        data.map((r: any) => [r.action, r.actor_type, r.actor_id, r.status]),
        [
          ['user.delete', 'operator', admin.operator.id, 204],
          ['user.update', 'operator', admin.operator.id, 200],
          ['user.create', 'operator', admin.operator.id, 201],
        ],
      );
    });

    it('records a write made with an API token as the token, naming its operator and the token', async () => {
      const admin = await signedIn(server.api, { role: 'admin' });
      const token = await tokenFor(admin, { role: 'admin' });
      const cluster = await createCluster(token.api);
      const [row] = (await audit(`target_id=${cluster.id}`)).data;
      assert.equal(row.action, 'cluster.create');
      assert.equal(row.actor_type, 'token');
      assert.equal(row.actor_id, admin.operator.id);
      assert.equal(row.actor_name, admin.operator.username);
      assert.equal(row.details.token_id, token.id);
      const [made] = (await audit(`action=token.create&target_id=${token.id}`)).data;
      assert.equal(made.actor_type, 'operator');
      assert.ok(!(await everything()).includes(token.token), 'the token itself is in no audit row or event');
    });

    it("records a viewer's refused write with the viewer as the caller, and stores nothing else", async () => {
      const viewer = await signedIn(server.api, { role: 'viewer' });
      const name = `viewer-${randomBytes(4).toString('hex')}`;
      assert.equal((await viewer.post('/api/v1/clusters', { name })).status, 403);
      const [row] = (await audit(`actor_id=${viewer.operator.id}&action=cluster.create`)).data;
      assert.equal(row.actor_type, 'operator');
      assert.equal(row.actor_name, viewer.operator.username);
      assert.equal(row.status, 403);
      assert.equal(row.target_id, null);
      assert.equal((await server.api.get(`/api/v1/clusters/${name}`)).status, 404);
    });

    it('keeps the secrets of request bodies out of the log: passwords, webhook secrets and headers, export and import passphrases', async () => {
      const admin = await signedIn(server.api, { role: 'super_admin' });
      const secrets = {
        password: secret('user-password'),
        newPassword: secret('new-password'),
        webhookSecret: secret('webhook-secret-at-least-32-characters'),
        header: secret('header-value'),
        passphrase: secret('export-passphrase'),
        wrongPassphrase: secret('wrong-passphrase'),
      };
      const user = await admin.post('/api/v1/users', { username: `s-${randomBytes(4).toString('hex')}`, password: secrets.password, role: 'viewer' });
      assert.equal(user.status, 201, user.text);
      assert.equal((await admin.put(`/api/v1/users/${user.body.data.id}`, { password: secrets.newPassword })).status, 200);
      const hook = await admin.post('/api/v1/webhooks', {
        url: 'http://127.0.0.1:9/hook',
        secret: secrets.webhookSecret,
        headers: { 'x-api-key': secrets.header },
        subscribed_events: ['audit.recorded'],
      });
      assert.equal(hook.status, 201, hook.text);
      assert.equal((await admin.get('/api/v1/export')).status, 200);
      const sealed = await admin.post('/api/v1/export', { passphrase: secrets.passphrase });
      assert.equal(sealed.status, 200, sealed.text);
      const dryRun = await admin.post('/api/v1/import', { document: sealed.body, passphrase: secrets.passphrase, dry_run: true });
      const wrong = await admin.post('/api/v1/import', { document: sealed.body, passphrase: secrets.wrongPassphrase });
      assert.ok(wrong.status >= 400 && wrong.status < 500, wrong.text);

      const rows = (await everyRow(`actor_id=${admin.operator.id}`)).map((r) => [r.action, r.status]);
      assert.deepEqual(rows.slice(0, 4), [
        ['import.run', wrong.status],
        ['import.run', dryRun.status],
        ['export.encrypted', 200],
        ['export.plain', 200],
      ]);
      const log = await everything();
      for (const [what, value] of Object.entries(secrets)) assert.ok(!log.includes(value), `${what} is in the audit log or its events`);
      const withDetails = (await everyRow(`actor_id=${admin.operator.id}`)).filter((r) => r.details && Object.keys(r.details).some((k) => k !== 'session_id'));
      assert.deepEqual(withDetails, [], 'only settings saves carry details beyond the session');
    });

    it('names every state-changing Admin API route', () => {
      const writes = server.app.registeredRoutes.filter(
        (r) => WRITES.has(r.method) && r.url.startsWith('/api/v1/') && !r.url.startsWith('/api/v1/agents/') && r.url !== '/api/v1/agents',
      );
      assert.ok(writes.length > 40);
      for (const { method, url } of writes) assert.match(routeAudit(method, url).action, /^[a-z_]+(\.[a-z_]+)+$/, `${method} ${url}`);
    });
  });
}

describe('audit action names', () => {
  it("uses the manager spec's names for operators, sessions, tokens and settings", () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/api/v1/auth/login', 'auth.login'],
      ['POST', '/api/v1/auth/login-form', 'auth.login'],
      ['POST', '/api/v1/auth/logout', 'auth.logout'],
      ['POST', '/api/v1/users', 'user.create'],
      ['PUT', '/api/v1/users/:id', 'user.update'],
      ['DELETE', '/api/v1/users/:id', 'user.delete'],
      ['POST', '/api/v1/tokens', 'token.create'],
      ['DELETE', '/api/v1/tokens/:id', 'token.delete'],
      ['PUT', '/api/v1/settings', 'settings.update'],
      ['DELETE', '/api/v1/fleet/:id', 'node.delete'],
      ['PATCH', '/api/v1/command_executions/:id/cancel', 'command_execution.cancel'],
      ['PATCH', '/api/v1/vpn/users/:id', 'vpn.user.update'],
    ];
    for (const [method, url, action] of cases) assert.equal(routeAudit(method, url).action, action, `${method} ${url}`);
    assert.equal(routeAudit('PUT', '/api/v1/users/:id').targetParam, 'id');
    assert.equal(routeAudit('POST', '/api/v1/auth/login').login, true);
  });
});
