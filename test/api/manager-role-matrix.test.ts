/**
 * The manager face's role matrix (issue 14) over https on the manager listener: every route has a
 * decided role, and every REST operation, called by each kind of operator session, is admitted or
 * refused exactly as that role says: viewer · operator · admin · super_admin sessions (cookie +
 * X-CSRF-Token), and credentials that must open nothing: an expired user, a disabled user, a revoked
 * (logged-out) session; a session without the CSRF header reads but writes nothing. Refusals answer
 * `{"error"}` in the manager's format and store nothing. Its writes are audited under the manager
 * spec's names, read back from the Admin API's audit log.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { roleRank } from '../../src/server/access.ts';
import type { Role } from '../../src/server/principal.ts';
import type { HttpsApiClient } from '../helpers/https-client.ts';
import { createOperator, loginAs, PASSWORD } from '../helpers/operators.ts';
import { uniqueName } from '../helpers/factories.ts';
import {
  type AdminRoute,
  byRole,
  type Caller,
  checkAccess,
  harmlessProbe,
  MANAGER_ROUTE_ROLES,
  managerRoutes,
  nothingOpens,
  readsOnly,
} from '../helpers/route-roles.ts';
import { type ApiResponse, startServer, type TestServer, testEngines } from '../helpers/server.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';

const ROLES = ['viewer', 'operator', 'admin', 'super_admin'] as const;

/** The manager's refusal: `{"error": "..."}`. */
function managerRefusal(res: ApiResponse, _status: 401 | 403, what: string) {
  assert.equal(typeof res.body.error, 'string', what);
}

for (const engine of testEngines()) {
  describe(`manager role matrix [${engine}]`, () => {
    let server: TestServer;
    let routes: AdminRoute[];
    let callers: Caller[];
    let sessions: Record<Role, HttpsApiClient>;

    const signedIn = async (overrides: Record<string, unknown>) => loginAs(server.managerApi, (await createOperator(server.api, overrides)).username);

    before(async () => {
      server = await startServer(engine);
      routes = managerRoutes(server.managerApp!.registeredRoutes).filter((route) => route.role !== 'public');

      sessions = {} as Record<Role, HttpsApiClient>;
      for (const role of ROLES) sessions[role] = await signedIn({ role });

      // Expires a few seconds from now: signed in while valid, used after it has passed.
      const expiresAt = Date.now() + 4_000;
      const expired = await signedIn({ role: 'super_admin', expires_at: new Date(expiresAt).toISOString() });

      const disabledUser = await createOperator(server.api, { role: 'super_admin' });
      const disabled = await loginAs(server.managerApi, disabledUser.username);
      const disabling = await server.api.put(`/api/v1/users/${disabledUser.id}`, { is_active: false });
      assert.equal(disabling.status, 200, disabling.text);

      const revoked = await signedIn({ role: 'super_admin' });
      const logout = await revoked.post('/api/v1/auth/logout', {});
      assert.equal(logout.status, 200, logout.text);

      callers = [
        ...ROLES.map((role) => ({ name: role, client: sessions[role], expect: byRole(role) })),
        { name: 'expired user', client: expired, expect: nothingOpens },
        { name: 'disabled user', client: disabled, expect: nothingOpens },
        { name: 'revoked session', client: revoked, expect: nothingOpens },
        {
          name: 'session without X-CSRF-Token',
          client: sessions.super_admin.withHeaders({ 'x-csrf-token': '' }),
          expect: readsOnly,
        },
      ];
      await sleep(Math.max(0, expiresAt - Date.now() + 50));
    });
    after(() => server?.stop());

    it('gives every route of the manager listener exactly the role in the table', () => {
      const actual = Object.fromEntries(managerRoutes(server.managerApp!.registeredRoutes).map((route) => [`${route.method} ${route.url}`, route.role]));
      for (const key of Object.keys(actual)) assert.ok(key in MANAGER_ROUTE_ROLES, `${key} has no decided role in test/helpers/route-roles.ts`);
      assert.deepEqual(actual, MANAGER_ROUTE_ROLES);
    });

    it('admits or refuses every operation for every caller exactly as its role says, and the probes store nothing', async () => {
      const before = await databaseSnapshot(server);
      for (const route of routes)
        for (const caller of callers) {
          const { path, body, headers } = harmlessProbe(route);
          checkAccess(caller, route, await caller.client.request(route.method, path, { rawBody: body, headers }), managerRefusal);
        }
      assert.equal(await databaseSnapshot(server), before);
    });

    it('a refused real write stores nothing; the same write by a role high enough is stored', async () => {
      const writes: Array<{ what: string; role: Role; send: (client: HttpsApiClient) => Promise<ApiResponse> }> = [
        { what: 'create a node', role: 'admin', send: (c) => c.post('/api/v1/nodes', { name: uniqueName('n') }) },
        {
          what: 'create an operator',
          role: 'admin',
          send: (c) => c.post('/api/v1/users', { username: uniqueName('op'), password: PASSWORD, display_name: 'Op', role: 'viewer' }),
        },
        { what: 'save a setting', role: 'admin', send: (c) => c.put('/api/v1/settings', { settings: { events_retention_days: 9 } }) },
      ];
      for (const write of writes) {
        for (const role of ['viewer', 'operator', 'admin'] as const) {
          if (roleRank(role) >= roleRank(write.role)) continue;
          const before = await databaseSnapshot(server);
          const res = await write.send(sessions[role]);
          assert.equal(res.status, 403, `${role} may not ${write.what}: ${res.status} ${res.text}`);
          assert.equal(typeof res.body.error, 'string');
          assert.equal(await databaseSnapshot(server), before, `a refused "${write.what}" stored nothing`);
        }
        const res = await write.send(sessions[write.role]);
        assert.ok(res.status >= 200 && res.status < 300, `${write.role} may ${write.what}: ${res.status} ${res.text}`);
      }
    });

    it("records the manager face's node writes and sign-ins under the manager's action names", async () => {
      const audit = async (query: string) => {
        const res = await server.api.get(`/api/v1/audit?${query}`);
        assert.equal(res.status, 200, res.text);
        return res.body.data as Array<Record<string, any>>;
      };

      const created = await server.managerApi.post('/api/v1/nodes', { name: uniqueName('audited') });
      assert.equal(created.status, 201, created.text);
      const id = created.body.id as string;
      const [create, ...moreCreates] = await audit(`action=node.create&target_id=${id}`);
      assert.equal(moreCreates.length, 0);
      assert.equal(create!.target_type, 'node');
      assert.equal(create!.status, 201);
      assert.equal(create!.actor_type, 'api-key');

      // The node has never connected: the update is refused (422), and still recorded with its target.
      const config = await server.managerApi.put(`/api/v1/nodes/${id}/config`, { flows: [] });
      assert.ok(config.status < 500, config.text);
      const [update] = await audit(`action=node.config.update&target_id=${id}`);
      assert.equal(update!.status, config.status);
      assert.equal(update!.method, 'PUT');

      assert.equal((await server.managerApi.delete(`/api/v1/nodes/${id}`)).status, 204);
      const [deletion] = await audit(`action=node.delete&target_id=${id}`);
      assert.equal(deletion!.status, 204);
      assert.equal(deletion!.path, `/api/v1/nodes/${id}`);

      const operator = await createOperator(server.api, { role: 'viewer' });
      await loginAs(server.managerApi, operator.username);
      const [login, ...moreLogins] = await audit(`action=auth.login&actor_id=${operator.id}`);
      assert.equal(moreLogins.length, 0);
      assert.equal(login!.actor_type, 'operator');
      assert.equal(login!.actor_name, operator.username);
      assert.equal(login!.status, 200);
    });
  });
}
