/** Operators' API tokens: shown once, role capped by the owner's, revocable, expiring, last use tracked. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/processes.ts';
import { signedIn, tokenFor } from '../helpers/operators.ts';

for (const engine of testEngines()) {
  describe(`API tokens [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    it('is shown once, works as a bearer without CSRF, and is listed without its secret', async () => {
      const admin = await signedIn(server.api, { role: 'admin' });
      const created = await admin.post('/api/v1/tokens', { name: 'ci', role: 'admin' });
      assert.equal(created.status, 201, created.text);
      const token: string = created.body.data.token;
      assert.match(token, /^npt_[A-Za-z0-9_-]{43}$/);
      assert.ok(token.startsWith(created.body.data.token_prefix));
      assert.equal(created.body.data.last_used_at, null);

      const bearer = server.api.withToken(token);
      assert.equal((await bearer.post('/api/v1/clusters', { name: 'by-token' })).status, 201);
      const list = await admin.get('/api/v1/tokens');
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 1);
      assert.equal(list.body.data[0].token, undefined);
      assert.ok(!list.text.includes(token.slice(12)), 'the secret never appears again');
      assert.ok(list.body.data[0].last_used_at, 'last use is recorded');
      assert.equal((await admin.post('/api/v1/tokens', { name: 'ci', role: 'viewer' })).status, 409, 'names are unique per operator');
    });

    it('carries at most its owner role, and the lower of the two applies', async () => {
      const operator = await signedIn(server.api, { role: 'operator' });
      const tooHigh = await operator.post('/api/v1/tokens', { name: 'x', role: 'admin' });
      assert.equal(tooHigh.status, 403);
      const { api: viewerToken } = await tokenFor(operator, { role: 'viewer' });
      assert.equal((await viewerToken.get('/api/v1/clusters')).status, 200);
      assert.equal((await viewerToken.post('/api/v1/clusters', { name: 'nope' })).status, 403);

      const admin = await signedIn(server.api, { role: 'admin' });
      const { api: adminToken } = await tokenFor(admin, { role: 'admin' });
      await server.api.put(`/api/v1/users/${admin.operator.id}`, { role: 'viewer' });
      assert.equal((await adminToken.post('/api/v1/clusters', { name: 'demoted' })).status, 403, "the owner's new role caps it");
    });

    it('a revoked or expired token, or one whose owner is disabled, is refused', async () => {
      const op = await signedIn(server.api);
      const { api, id } = await tokenFor(op);
      assert.equal((await api.get('/api/v1/clusters')).status, 200);
      assert.equal((await op.delete(`/api/v1/tokens/${id}`)).status, 204);
      assert.equal((await api.get('/api/v1/clusters')).status, 401);
      assert.ok((await op.get('/api/v1/tokens')).body.data[0].revoked_at);

      const expiring = await tokenFor(op, { expires_at: new Date(Date.now() + 1_500).toISOString() });
      assert.equal((await expiring.api.get('/api/v1/clusters')).status, 200);
      await until(async () => (await expiring.api.get('/api/v1/clusters')).status === 401, 'the token to expire', 10_000);

      const live = await tokenFor(op);
      await server.api.put(`/api/v1/users/${op.operator.id}`, { is_active: false });
      assert.equal((await live.api.get('/api/v1/clusters')).status, 401);
    });

    it('lists only your own tokens unless you are an admin; others cannot revoke yours', async () => {
      const alice = await signedIn(server.api, { role: 'operator' });
      const bob = await signedIn(server.api, { role: 'operator' });
      const { id } = await tokenFor(alice);
      assert.equal((await bob.get('/api/v1/tokens')).body.data.length, 0);
      assert.equal((await bob.get(`/api/v1/tokens?user_id=${alice.operator.id}`)).status, 403);
      assert.equal((await bob.delete(`/api/v1/tokens/${id}`)).status, 404);
      const admin = await signedIn(server.api, { role: 'admin' });
      const theirs = await admin.get(`/api/v1/tokens?user_id=${alice.operator.id}`);
      assert.deepEqual(
        theirs.body.data.map((t: any) => t.id),
        [id],
      );
    });

    it('boot keys own no tokens', async () => {
      const res = await server.api.post('/api/v1/tokens', { name: 'root', role: 'viewer' });
      assert.equal(res.status, 400);
      assert.match(res.body.error.message, /boot keys/);
    });

    it('refuses bad input', async () => {
      const op = await signedIn(server.api);
      for (const body of [
        { name: '', role: 'viewer' },
        { name: 'x'.repeat(65), role: 'viewer' },
        { name: 'x', role: 'god' },
        { name: 'x', role: 'viewer', expires_at: '2000-01-01T00:00:00Z' },
      ]) {
        assert.equal((await op.post('/api/v1/tokens', body)).status, 400, JSON.stringify(body));
      }
      assert.equal((await op.get('/api/v1/tokens')).body.data.length, 0);
    });
  });
}
