/** Operators CRUD (manager spec §5.2): validation, and who may create, read, change and delete whom. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createOperator, login, PASSWORD, signedIn } from '../helpers/operators.ts';

const future = () => new Date(Date.now() + 86_400_000).toISOString();

for (const engine of testEngines()) {
  describe(`users [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    it('creates, lists, reads, changes and deletes an operator', async () => {
      const op = await createOperator(server.api, { role: 'operator', display_name: 'Grace H', email: 'grace@example.org', allowed_node_ids: null });
      assert.deepEqual(Object.keys(op.user).sort(), [
        'allowed_node_ids',
        'display_name',
        'email',
        'expires_at',
        'id',
        'is_active',
        'is_temporary',
        'last_login_at',
        'role',
        'username',
      ]);
      assert.equal(op.user.is_active, true);
      const list = await server.api.get(`/api/v1/users?username=${op.username}`);
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.data.map((u: any) => u.id),
        [op.id],
      );
      const nodeId = randomUUID();
      const changed = await server.api.put(`/api/v1/users/${op.id}`, { display_name: 'Grace Hopper', role: 'admin', allowed_node_ids: [nodeId] });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.body.data.role, 'admin');
      assert.deepEqual(changed.body.data.allowed_node_ids, [nodeId]);
      assert.equal((await server.api.get(`/api/v1/users/${op.id}`)).body.data.display_name, 'Grace Hopper');
      assert.equal((await server.api.delete(`/api/v1/users/${op.id}`)).status, 204);
      assert.equal((await server.api.get(`/api/v1/users/${op.id}`)).status, 404);
    });

    it('refuses bad fields with 400 and stores nothing', async () => {
      const before = (await server.api.get('/api/v1/users')).body.meta.pagination.total_count;
      const bad: Record<string, unknown>[] = [
        { username: '' },
        { username: '-leading' },
        { username: 'has space' },
        { username: 'x'.repeat(65) },
        { password: 'short' },
        { password: 'p'.repeat(129) },
        { display_name: 'tab\there' },
        { display_name: '' },
        { email: 'not-an-email' },
        { email: `${'a'.repeat(250)}@b.co` },
        { role: 'root' },
        { expires_at: '2001-01-01T00:00:00Z' },
        { allowed_node_ids: ['not-a-uuid'] },
        { allowed_node_ids: 'all' },
        { is_admin: true },
      ];
      for (const override of bad) {
        const res = await server.api.post('/api/v1/users', { username: 'valid.name', password: PASSWORD, role: 'viewer', ...override });
        assert.equal(res.status, 400, JSON.stringify(override));
        assert.equal(res.body.error.code, 'bad_request');
      }
      assert.equal((await server.api.get('/api/v1/users')).body.meta.pagination.total_count, before);
    });

    it('usernames are unique (409)', async () => {
      const op = await createOperator(server.api);
      const res = await server.api.post('/api/v1/users', { username: op.username, password: PASSWORD, role: 'viewer' });
      assert.equal(res.status, 409);
    });

    it('an admin manages operators below super_admin but grants no role above its own', async () => {
      const admin = await signedIn(server.api, { role: 'admin' });
      const op = await createOperator(admin, { role: 'operator' });
      assert.equal(op.user.role, 'operator');
      assert.equal((await createOperator(admin, { role: 'admin' })).user.role, 'admin');
      const superRes = await admin.post('/api/v1/users', { username: 'wannabe', password: PASSWORD, role: 'super_admin' });
      assert.equal(superRes.status, 403);
      const root = await createOperator(server.api, { role: 'super_admin' });
      assert.equal((await admin.put(`/api/v1/users/${root.id}`, { display_name: 'x' })).status, 403);
      assert.equal((await admin.put(`/api/v1/users/${op.id}`, { role: 'super_admin' })).status, 403);
      assert.equal((await admin.delete(`/api/v1/users/${root.id}`)).status, 403);
      assert.equal((await server.api.get(`/api/v1/users/${root.id}`)).body.data.display_name, root.username, 'unchanged');
      assert.equal((await admin.delete(`/api/v1/users/${op.id}`)).status, 204);
    });

    it('a super_admin manages super_admins; nobody deletes themselves', async () => {
      const root = await signedIn(server.api, { role: 'super_admin' });
      const other = await createOperator(root, { role: 'super_admin' });
      assert.equal((await root.put(`/api/v1/users/${other.id}`, { display_name: 'Other root' })).status, 200);
      const self = await root.delete(`/api/v1/users/${root.operator.id}`);
      assert.equal(self.status, 400);
      assert.equal((await root.get('/api/v1/auth/me')).status, 200);
      assert.equal((await root.delete(`/api/v1/users/${other.id}`)).status, 204);
    });

    it('viewers and operators read only themselves', async () => {
      const viewer = await signedIn(server.api, { role: 'viewer' });
      const other = await createOperator(server.api);
      assert.equal((await viewer.get(`/api/v1/users/${viewer.operator.id}`)).status, 200);
      assert.equal((await viewer.get(`/api/v1/users/${other.id}`)).status, 404);
      assert.equal((await viewer.get('/api/v1/users')).status, 403);
      assert.equal((await viewer.put(`/api/v1/users/${viewer.operator.id}`, { role: 'super_admin' })).status, 403);
      assert.equal((await viewer.post('/api/v1/users', { username: 'x1', password: PASSWORD, role: 'viewer' })).status, 403);
    });

    it('a node-restricted admin grants only its own nodes and manages only users within them', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      const admin = await signedIn(server.api, { role: 'admin', allowed_node_ids: [a] });
      assert.equal((await admin.post('/api/v1/users', { username: 'r-all', password: PASSWORD, role: 'viewer' })).status, 403, 'null = all nodes');
      assert.equal((await admin.post('/api/v1/users', { username: 'r-b', password: PASSWORD, role: 'viewer', allowed_node_ids: [b] })).status, 403);
      const mine = await createOperator(admin, { allowed_node_ids: [a] });
      assert.deepEqual(mine.user.allowed_node_ids, [a]);
      const unrestricted = await createOperator(server.api, { role: 'viewer' });
      assert.equal((await admin.put(`/api/v1/users/${unrestricted.id}`, { password: 'Taken-0ver-pass' })).status, 403);
      assert.equal((await admin.put(`/api/v1/users/${mine.id}`, { allowed_node_ids: [a, b] })).status, 403);
    });

    it('a new password ends the sessions; a role change applies to live sessions at once', async () => {
      const client = await signedIn(server.api, { role: 'viewer' });
      assert.equal((await client.post('/api/v1/clusters', { name: 'rolechange' })).status, 403);
      await server.api.put(`/api/v1/users/${client.operator.id}`, { role: 'admin' });
      assert.equal((await client.post('/api/v1/clusters', { name: 'rolechange' })).status, 201);
      await server.api.put(`/api/v1/users/${client.operator.id}`, { password: 'Brand-new-passw0rd' });
      assert.equal((await client.get('/api/v1/clusters')).status, 401);
      assert.equal((await login(server.api, client.operator.username, PASSWORD)).status, 401);
      assert.equal((await login(server.api, client.operator.username, 'Brand-new-passw0rd')).status, 200);
    });

    it('deleting an operator ends its sessions', async () => {
      const client = await signedIn(server.api);
      assert.equal((await server.api.delete(`/api/v1/users/${client.operator.id}`)).status, 204);
      assert.equal((await client.get('/api/v1/clusters')).status, 401);
    });

    it('expires_at must lie in the future', async () => {
      const op = await createOperator(server.api, { expires_at: future() });
      assert.ok(op.user.expires_at);
      const res = await server.api.put(`/api/v1/users/${op.id}`, { expires_at: '2020-01-01T00:00:00Z' });
      assert.equal(res.status, 400);
      assert.equal((await server.api.put(`/api/v1/users/${op.id}`, { expires_at: null })).body.data.expires_at, null);
    });
  });
}
