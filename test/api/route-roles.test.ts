/**
 * Every Admin API route has a decided role (a new route without one fails here), and the boot keys
 * meet that role over HTTP: MASTER_KEY (super_admin) passes every gate, API_KEY (admin) and
 * METRICS_KEY (viewer, on the metrics routes) are refused with 403 `forbidden` exactly where their
 * role is too low, and a refused write stores nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { roleRank } from '../../src/server/access.ts';
import type { Role } from '../../src/server/principal.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { ADMIN_ROUTE_ROLES, type AdminRoute, adminRoutes, harmlessProbe } from '../helpers/route-roles.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';

const API_KEY = 'api-key-for-route-roles-test';
const METRICS_KEY = 'metrics-key-for-route-roles-test';

for (const engine of testEngines()) {
  describe(`route roles [${engine}]`, () => {
    let server: TestServer;
    let routes: AdminRoute[];

    before(async () => {
      server = await startServer(engine, { API_KEY, METRICS_KEY });
      routes = adminRoutes(server.app.registeredRoutes);
    });
    after(() => server?.stop());

    it('gives every Admin API route exactly the role in the table', () => {
      const actual = Object.fromEntries(routes.map((route) => [`${route.method} ${route.url}`, route.role]));
      for (const key of Object.keys(actual)) assert.ok(key in ADMIN_ROUTE_ROLES, `${key} has no decided role in test/helpers/route-roles.ts`);
      assert.deepEqual(actual, ADMIN_ROUTE_ROLES);
    });

    it('refuses a boot key with 403 forbidden exactly where its role is too low, storing nothing', async () => {
      const keys: Array<{ token: string; role: Role; admits: (route: AdminRoute) => boolean }> = [
        { token: server.masterKey, role: 'super_admin', admits: () => true },
        { token: API_KEY, role: 'admin', admits: (route) => route.auth === 'api' },
        { token: METRICS_KEY, role: 'viewer', admits: (route) => route.auth === 'metrics' },
      ];
      const before = await databaseSnapshot(server);
      for (const route of routes.filter((r) => r.role !== 'public')) {
        const probe = harmlessProbe(route);
        for (const key of keys.filter((k) => k.admits(route))) {
          const res = await server.api.withToken(key.token).request(route.method, probe.path, { rawBody: probe.body, headers: probe.headers });
          const what = `${key.role} on ${route.method} ${route.url}: ${res.status} ${res.text.slice(0, 200)}`;
          assert.ok(res.status < 500, what);
          if (roleRank(key.role) < roleRank(route.role as Role)) {
            assert.equal(res.status, 403, what);
            assert.equal(res.body.error.code, 'forbidden', what);
            assert.equal(res.body.error.message, `This requires the ${route.role} role`, what);
            assert.equal(typeof res.body.meta.request_id, 'string', what);
          } else {
            assert.notEqual(res.status, 403, what);
            assert.notEqual(res.status, 401, what);
          }
        }
      }
      assert.deepEqual(await databaseSnapshot(server), before);
    });
  });
}
