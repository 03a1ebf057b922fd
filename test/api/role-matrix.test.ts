/**
 * The operator role matrix (issue 13): every Admin API operation, called over HTTP by each kind of
 * operator credential, is admitted or refused exactly as its role says:
 *   viewer · operator · admin · super_admin sessions (cookie + X-CSRF-Token), an operator restricted
 *   to one node, a viewer-role API token of an admin, and credentials that must open nothing: an
 *   expired user, a disabled user, a revoked (logged-out) session; a session without the CSRF header
 *   reads but writes nothing.
 * Probes store nothing whoever sends them (unknown ids, a body no route parses); real writes with
 * valid bodies show that a refused write stores nothing and an admitted one does.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { roleRank } from '../../src/server/access.ts';
import type { Role } from '../../src/server/principal.ts';
import { registerAgent } from '../helpers/agents.ts';
import { createCluster, uniqueName } from '../helpers/factories.ts';
import { createOperator, loginAs, PASSWORD, type SessionClient, signedIn, tokenFor } from '../helpers/operators.ts';
import {
  ADMIN_ROUTE_ROLES,
  type AdminRoute,
  adminRoutes,
  byRole,
  type Caller,
  checkAccess,
  harmlessProbe,
  nothingOpens,
  readsOnly,
} from '../helpers/route-roles.ts';
import { type ApiClient, type ApiResponse, startServer, type TestServer, testEngines } from '../helpers/server.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';

function probe(client: ApiClient, route: AdminRoute): Promise<ApiResponse> {
  const { path, body, headers } = harmlessProbe(route);
  return client.request(route.method, path, { rawBody: body, headers });
}

/** The Admin API's refusal: its error envelope. */
function adminRefusal(res: ApiResponse, status: 401 | 403, what: string) {
  assert.equal(res.body.error.code, status === 401 ? 'unauthorized' : 'forbidden', what);
  assert.equal(typeof res.body.meta.request_id, 'string', what);
}

for (const engine of testEngines()) {
  describe(`operator role matrix [${engine}]`, () => {
    let server: TestServer;
    let routes: AdminRoute[];
    let callers: Caller[];
    let nodeIds: { mine: string; theirs: string };

    before(async () => {
      server = await startServer(engine);
      routes = adminRoutes(server.app.registeredRoutes).filter((route) => route.role !== 'public');
      const cluster = await createCluster(server.api);
      const mine = await registerAgent(server.api, { cluster });
      const theirs = await registerAgent(server.api, { cluster });
      nodeIds = { mine: mine.nodeId, theirs: theirs.nodeId };

      const sessions = {} as Record<Role, SessionClient>;
      for (const role of ['viewer', 'operator', 'admin', 'super_admin'] as const) sessions[role] = await signedIn(server.api, { role });
      const restricted = await signedIn(server.api, { role: 'operator', allowed_node_ids: [nodeIds.mine] });
      const viewerToken = await tokenFor(sessions.admin, { role: 'viewer' });

      // Expires a few seconds from now: signed in while valid, used after it has passed.
      const expiresAt = Date.now() + 4_000;
      const expiring = await createOperator(server.api, { role: 'super_admin', expires_at: new Date(expiresAt).toISOString() });
      const expired = await loginAs(server.api, expiring.username);

      const disabledUser = await createOperator(server.api, { role: 'super_admin' });
      const disabled = await loginAs(server.api, disabledUser.username);
      const disabling = await server.api.put(`/api/v1/users/${disabledUser.id}`, { is_active: false });
      assert.equal(disabling.status, 200, disabling.text);

      const revoked = await signedIn(server.api, { role: 'super_admin' });
      const logout = await revoked.post('/api/v1/auth/logout', {});
      assert.equal(logout.status, 200, logout.text);

      const withoutCsrf = sessions.super_admin.withHeaders({ 'x-csrf-token': '' });

      callers = [
        ...(['viewer', 'operator', 'admin', 'super_admin'] as const).map((role) => ({ name: role, client: sessions[role], expect: byRole(role) })),
        { name: 'operator restricted to one node', client: restricted, expect: byRole('operator') },
        { name: "an admin's viewer token", client: viewerToken.api, expect: byRole('viewer') },
        { name: 'expired user', client: expired, expect: nothingOpens },
        { name: 'disabled user', client: disabled, expect: nothingOpens },
        { name: 'revoked session', client: revoked, expect: nothingOpens },
        {
          name: 'session without X-CSRF-Token',
          client: withoutCsrf,
          expect: readsOnly,
        },
      ];
      await sleep(Math.max(0, expiresAt - Date.now() + 50));
    });
    after(() => server?.stop());

    it('covers every Admin API operation the route table decides', () => {
      assert.equal(routes.length, Object.values(ADMIN_ROUTE_ROLES).filter((role) => role !== 'public').length);
    });

    it('admits or refuses every operation for every caller exactly as its role says, and the refusals store nothing', async () => {
      const before = await databaseSnapshot(server);
      for (const route of routes) for (const caller of callers) checkAccess(caller, route, await probe(caller.client, route), adminRefusal);
      assert.equal(await databaseSnapshot(server), before);
    });

    it('a refused real write stores nothing; the same write by a role high enough is stored', async () => {
      const [viewer, operator, admin, superAdmin] = callers.map((caller) => caller.client);
      const doomed = await registerAgent(server.api, { cluster: await createCluster(server.api) });
      const writes: Array<{ what: string; role: Role; send: (client: ApiClient) => Promise<ApiResponse> }> = [
        { what: 'create a cluster', role: 'admin', send: (c) => c.post('/api/v1/clusters', { name: uniqueName() }) },
        {
          what: 'create a webhook',
          role: 'admin',
          send: (c) => c.post('/api/v1/webhooks', { url: 'https://hooks.example.test/x', secret: 's'.repeat(40), subscribed_events: ['edge.node.registered'] }),
        },
        { what: 'create a VPN user', role: 'admin', send: (c) => c.post('/api/v1/vpn/users', { username: uniqueName('u') }) },
        { what: 'save a setting', role: 'admin', send: (c) => c.put('/api/v1/settings', { settings: { max_login_attempts: 9 } }) },
        {
          what: 'create an operator',
          role: 'admin',
          send: (c) => c.post('/api/v1/users', { username: uniqueName('op'), password: PASSWORD, role: 'viewer' }),
        },
        { what: 'delete a node', role: 'admin', send: (c) => c.delete(`/api/v1/nodes/${doomed.nodeId}`) },
        // Last: the stored command creates its executions in the background, after the answer.
        {
          what: 'run a command on every node',
          role: 'operator',
          send: (c) => c.post('/api/v1/commands', { command_text: 'uptime', targeting: { type: 'all' } }),
        },
      ];
      for (const write of writes) {
        for (const [role, client] of [
          ['viewer', viewer],
          ['operator', operator],
          ['admin', admin],
        ] as const) {
          if (roleRank(role) >= roleRank(write.role)) continue;
          const before = await databaseSnapshot(server);
          const res = await write.send(client!);
          assert.equal(res.status, 403, `${role} may not ${write.what}: ${res.status} ${res.text}`);
          assert.equal(await databaseSnapshot(server), before, `a refused "${write.what}" stored nothing`);
        }
        const res = await write.send(superAdmin!);
        assert.ok(res.status >= 200 && res.status < 300, `super_admin may ${write.what}: ${res.status} ${res.text}`);
      }
    });

    it("an operator restricted to one node sees only it, and the other node's routes answer 404", async () => {
      const restricted = callers.find((caller) => caller.name.startsWith('operator restricted'))!.client;
      const operator = callers.find((caller) => caller.name === 'operator')!.client;
      const ids = (res: ApiResponse) => (res.body.data as Array<{ id: string }>).map((item) => item.id).sort();
      const listed = await restricted.get('/api/v1/fleet');
      assert.deepEqual(ids(listed), [nodeIds.mine]);
      assert.ok(ids(await operator.get('/api/v1/fleet')).includes(nodeIds.theirs));
      for (const path of [`/api/v1/nodes/${nodeIds.theirs}`, `/api/v1/fleet/${nodeIds.theirs}`]) {
        assert.equal((await operator.get(path)).status, 200, path);
        assert.equal((await restricted.get(path)).status, 404, path);
      }
      assert.equal((await restricted.get(`/api/v1/nodes/${nodeIds.mine}`)).status, 200);
    });
  });
}
