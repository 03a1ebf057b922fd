/**
 * Signing in as an operator over real HTTP with cookies (manager spec §5.1): the login body and
 * cookies, sessions on every Admin API route, CSRF on writes, logout, the per-address rate limit,
 * the per-account lockout, disabled and expired accounts, the form login, and sessions that hold
 * on a second instance and across a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createCluster } from '../helpers/factories.ts';
import { until } from '../helpers/processes.ts';
import { cookiesOf, createOperator, login, loginAs, nextAddress, PASSWORD, signedIn } from '../helpers/operators.ts';

const clusterCount = async (server: TestServer) => (await server.api.get('/api/v1/clusters?page_size=100')).body.meta.pagination.total_count as number;

for (const engine of testEngines()) {
  describe(`operator sign-in [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { NODEPLANE_SECRET_KEY: randomBytes(32).toString('base64') });
    });
    after(() => server.stop());

    it('a login answers the spec body and sets the session and csrf cookies, and the session works', async () => {
      const op = await createOperator(server.api, { role: 'admin', display_name: 'Ada', email: 'ada@example.org' });
      const res = await login(server.api, op.username, PASSWORD);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['csrf_token', 'error', 'success', 'user']);
      assert.equal(res.body.success, true);
      assert.equal(res.body.error, null);
      assert.match(res.body.csrf_token, /^[0-9a-f]{32}$/);
      assert.equal(res.body.user.username, op.username);
      assert.equal(res.body.user.role, 'admin');
      assert.ok(res.body.user.last_login_at);
      assert.equal(res.body.user.password_hash, undefined);

      const lines = res.headers.getSetCookie();
      const session = lines.find((l) => l.startsWith('session='))!;
      const csrf = lines.find((l) => l.startsWith('csrf_token='))!;
      assert.match(session, /HttpOnly/);
      assert.match(session, /SameSite=Lax/);
      assert.match(session, /Path=\//);
      assert.match(session, /Max-Age=86400/);
      assert.doesNotMatch(session, /Secure/, 'plain HTTP: no Secure flag');
      assert.doesNotMatch(csrf, /HttpOnly/, 'the dashboard reads the csrf cookie');
      assert.equal(cookiesOf(res).csrf_token, res.body.csrf_token);
      assert.ok(!res.text.includes(cookiesOf(res).session!), 'the session token is not in the body');

      const client = await loginAs(server.api, op.username);
      const clusters = await client.get('/api/v1/clusters');
      assert.equal(clusters.status, 200, clusters.text);
      const me = await client.get('/api/v1/auth/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.data.id, op.id);
      assert.equal((await server.api.get('/api/v1/auth/me')).status, 404, 'a boot key is no operator');
    });

    it('a cookie write without the right X-CSRF-Token is refused with 403 and stores nothing; with it, it goes through', async () => {
      const client = await signedIn(server.api, { role: 'admin' });
      const before = await clusterCount(server);
      const bare = client.withHeaders({ 'x-csrf-token': '' });
      for (const headers of [{} as Record<string, string>, { 'x-csrf-token': 'f'.repeat(32) }, { 'x-csrf-token': `${client.csrf}x` }]) {
        const res = await bare.request('POST', '/api/v1/clusters', { body: { name: `c-${randomBytes(3).toString('hex')}` }, headers });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.body.error.code, 'forbidden');
        assert.match(res.body.error.message, /CSRF/);
      }
      assert.equal(await clusterCount(server), before);
      const cluster = await createCluster(client);
      assert.ok(cluster.id);
      assert.equal(await clusterCount(server), before + 1);
    });

    it('a session carries its role: a viewer reads but may not write', async () => {
      const viewer = await signedIn(server.api, { role: 'viewer' });
      assert.equal((await viewer.get('/api/v1/clusters')).status, 200);
      const res = await viewer.post('/api/v1/clusters', { name: 'nope' });
      assert.equal(res.status, 403);
      assert.equal(res.body.error.code, 'forbidden');
    });

    it('unknown, malformed or tampered cookies are 401 in the admin envelope', async () => {
      for (const cookie of ['session=nope', `session=${'a'.repeat(43)}`, `session=${'x'.repeat(5000)}`, 'other=1']) {
        const res = await server.api.withToken(null).get('/api/v1/clusters', { cookie });
        assert.equal(res.status, 401, cookie.slice(0, 30));
        assert.equal(res.body.error.code, 'unauthorized');
      }
    });

    it('logout revokes the session and clears both cookies; the old cookie is then refused', async () => {
      const client = await signedIn(server.api);
      const res = await client.post('/api/v1/auth/logout');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { success: true });
      const cleared = res.headers.getSetCookie();
      assert.ok(cleared.some((l) => l.startsWith('session=;') && /Max-Age=0/.test(l)));
      assert.ok(cleared.some((l) => l.startsWith('csrf_token=;') && /Max-Age=0/.test(l)));
      assert.equal((await client.get('/api/v1/clusters')).status, 401);
      const again = await signedIn(server.api);
      const noCsrf = await again.withHeaders({ 'x-csrf-token': '' }).post('/api/v1/auth/logout');
      assert.equal(noCsrf.status, 403, 'logout needs the CSRF token too');
      assert.equal((await again.get('/api/v1/clusters')).status, 200);
      assert.equal((await server.api.post('/api/v1/auth/logout')).status, 400, 'a bearer caller has no session to end');
    });

    it('the 6th login attempt from one address within a minute is 429 (successes count too); other addresses are unaffected', async () => {
      const op = await createOperator(server.api);
      const address = nextAddress();
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await login(server.api, op.username, i % 2 ? PASSWORD : 'wrong-password', address)).status);
      assert.deepEqual(statuses, [401, 200, 401, 200, 401]);
      const limited = await login(server.api, op.username, PASSWORD, address);
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body, { success: false, csrf_token: null, user: null, error: 'Too many login attempts. Try again later.' });
      assert.equal(limited.headers.get('retry-after'), null);
      assert.equal(limited.headers.getSetCookie().length, 0);
      assert.equal((await login(server.api, op.username, PASSWORD)).status, 200, 'another address');
    });

    it('over-long credentials are a 400 "Invalid credentials" that does not count; bad bodies keep the login shape', async () => {
      const op = await createOperator(server.api);
      const address = nextAddress();
      for (let i = 0; i < 6; i++) {
        const res = await login(server.api, 'u'.repeat(65), PASSWORD, address);
        assert.equal(res.status, 400);
        assert.deepEqual(res.body, { success: false, csrf_token: null, user: null, error: 'Invalid credentials' });
        assert.equal((await login(server.api, op.username, 'p'.repeat(129), address)).status, 400);
      }
      assert.equal((await login(server.api, op.username, PASSWORD, address)).status, 200);
      for (const rawBody of ['{', '{"username":1,"password":"x"}', '{"username":"a"}', '[]']) {
        const res = await server.api.withToken(null).request('POST', '/api/v1/auth/login', { rawBody, headers: { 'x-forwarded-for': nextAddress() } });
        assert.equal(res.status, 400, rawBody);
        assert.equal(res.body.success, false);
        assert.equal(res.body.user, null);
      }
    });

    it('5 failed logins lock the account: the right password is refused like a wrong one, until an admin sets a new password', async () => {
      const op = await createOperator(server.api);
      for (let i = 0; i < 5; i++) assert.equal((await login(server.api, op.username, 'wrong-password')).status, 401);
      const locked = await login(server.api, op.username, PASSWORD);
      assert.equal(locked.status, 401);
      assert.equal(locked.body.error, 'Invalid credentials');
      const unknown = await login(server.api, `nobody-${randomBytes(3).toString('hex')}`, PASSWORD);
      assert.deepEqual(unknown.body, locked.body, 'a locked account looks like an unknown one');
      const reset = await server.api.put(`/api/v1/users/${op.id}`, { password: 'Another-Passw0rd' });
      assert.equal(reset.status, 200, reset.text);
      assert.equal((await login(server.api, op.username, 'Another-Passw0rd')).status, 200);
    });

    it('a success resets the failure count', async () => {
      const op = await createOperator(server.api);
      for (let i = 0; i < 4; i++) assert.equal((await login(server.api, op.username, 'wrong-password')).status, 401);
      assert.equal((await login(server.api, op.username, PASSWORD)).status, 200);
      for (let i = 0; i < 4; i++) assert.equal((await login(server.api, op.username, 'wrong-password')).status, 401);
      assert.equal((await login(server.api, op.username, PASSWORD)).status, 200);
    });

    it('a disabled account cannot sign in and its sessions stop working', async () => {
      const client = await signedIn(server.api);
      const disabled = await server.api.put(`/api/v1/users/${client.operator.id}`, { is_active: false });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.body.data.is_active, false);
      assert.equal((await client.get('/api/v1/clusters')).status, 401);
      const res = await login(server.api, client.operator.username, PASSWORD);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'Account is disabled');
      await server.api.put(`/api/v1/users/${client.operator.id}`, { is_active: true });
      assert.equal((await client.get('/api/v1/clusters')).status, 401, 're-enabling does not revive revoked sessions');
      assert.equal((await login(server.api, client.operator.username, PASSWORD)).status, 200);
    });

    it('an expired account cannot sign in, and its sessions and tokens stop working when it expires', async () => {
      const expiresAt = new Date(Date.now() + 2_000).toISOString();
      const op = await createOperator(server.api, { is_temporary: true, expires_at: expiresAt });
      assert.equal(op.user.is_temporary, true);
      const client = await loginAs(server.api, op.username);
      assert.equal((await client.get('/api/v1/clusters')).status, 200);
      await until(async () => (await client.get('/api/v1/clusters')).status === 401, 'the account to expire', 10_000);
      const res = await login(server.api, op.username, PASSWORD);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'Account has expired');
    });

    it('the form login redirects with the cookies, to a safe `next` only', async () => {
      const op = await createOperator(server.api);
      const form = async (fields: Record<string, string>) =>
        fetch(`${server.url}/api/v1/auth/login-form`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': nextAddress() },
          body: new URLSearchParams(fields).toString(),
        });
      const ok = await form({ username: op.username, password: PASSWORD });
      assert.equal(ok.status, 303);
      assert.equal(ok.headers.get('location'), '/dashboard');
      const session = ok.headers.getSetCookie().find((l) => l.startsWith('session='))!;
      assert.match(session, /HttpOnly/);
      const cookie = session.split(';')[0]!;
      assert.equal((await server.api.withToken(null).get('/api/v1/clusters', { cookie })).status, 200);

      assert.equal((await form({ username: op.username, password: PASSWORD, next: '/nodes/1?tab=a' })).headers.get('location'), '/nodes/1?tab=a');
      for (const next of ['//evil.example', 'https://evil.example', '/\\evil.example', 'evil']) {
        assert.equal((await form({ username: op.username, password: PASSWORD, next })).headers.get('location'), '/dashboard', next);
      }
      const bad = await form({ username: op.username, password: 'wrong-password' });
      assert.equal(bad.status, 303);
      assert.equal(bad.headers.get('location'), '/login?error=invalid');
      assert.equal(bad.headers.getSetCookie().length, 0);
      assert.equal((await form({ username: op.username })).headers.get('location'), '/login?error=invalid');
      const big = await form({ username: op.username, password: 'x'.repeat(20_000) });
      assert.equal(big.headers.get('location'), '/login?error=invalid');
    });

    it('a session works on a second instance on the same database and after a restart', async () => {
      const client = await signedIn(server.api, { role: 'admin' });
      const env = { NODEPLANE_SECRET_KEY: server.ctx.config.secretKey! };
      const second = await startServer(engine, env, { databaseUrl: server.databaseUrl });
      try {
        const res = await new ApiClient(second.url, null, client.headers).get('/api/v1/clusters');
        assert.equal(res.status, 200, res.text);
      } finally {
        await second.stop();
      }
      const third = await startServer(engine, env, { databaseUrl: server.databaseUrl });
      try {
        const res = await new ApiClient(third.url, null, client.headers).post('/api/v1/clusters', { name: `c-${randomBytes(3).toString('hex')}` });
        assert.equal(res.status, 201, res.text);
      } finally {
        await third.stop();
      }
    });
  });
}
