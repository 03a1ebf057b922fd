/**
 * Every Admin API route and the lowest role it admits (issue 13): viewer reads; operator runs
 * commands, cancels and deletes executions, triggers self-updates and manages SSH access; admin
 * manages clusters, enrollment keys, nodes, aliases, webhooks and the VPN service. Enrollment-key
 * reads are admin too: a key read back enrolls nodes. `public` routes
 * take no credential at all. Shared by the route-role test and the operator role matrix.
 */
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { roleRank } from '../../src/server/access.ts';
import type { RegisteredRoute } from '../../src/server/app.ts';
import { requiredRole } from '../../src/server/faces/face-kit.ts';
import type { Role } from '../../src/server/principal.ts';
import type { ApiClient, ApiResponse } from './api-client.ts';

export type RouteRole = Role | 'public';

export const ADMIN_ROUTE_ROLES: Record<string, RouteRole> = {
  'GET /metrics': 'viewer',

  'POST /api/v1/clusters': 'admin',
  'GET /api/v1/clusters': 'viewer',
  'GET /api/v1/clusters/:name': 'viewer',
  'PATCH /api/v1/clusters/:name': 'admin',
  'DELETE /api/v1/clusters/:name': 'admin',

  'POST /api/v1/clusters/default/enrollment_keys/public': 'public',
  'POST /api/v1/clusters/default/enrollment_keys': 'admin',
  'POST /api/v1/clusters/:cluster_name/enrollment_keys': 'admin',
  'GET /api/v1/enrollment_keys': 'admin',
  'GET /api/v1/enrollment_keys/:id': 'admin',
  'PATCH /api/v1/enrollment_keys/:id': 'admin',
  'DELETE /api/v1/enrollment_keys/:id': 'admin',

  'GET /api/v1/nodes': 'viewer',
  'GET /api/v1/nodes/:id': 'viewer',
  'DELETE /api/v1/nodes/:id': 'admin',
  'PATCH /api/v1/nodes/:id/change_cluster': 'admin',

  'GET /api/v1/fleet': 'viewer',
  'GET /api/v1/fleet/:id': 'viewer',
  'PATCH /api/v1/fleet/:id': 'admin',
  'DELETE /api/v1/fleet/:id': 'admin',

  'POST /api/v1/nodes/:node_id/aliases': 'admin',
  'GET /api/v1/aliases': 'viewer',
  'GET /api/v1/aliases/:id': 'viewer',
  'DELETE /api/v1/aliases/:id': 'admin',

  'GET /api/v1/admins/me': 'viewer',
  'GET /api/v1/admins/me/discovery': 'public',
  'GET /api/v1/admins/my_admin_cluster': 'viewer',
  'GET /api/v1/admins/admin_clusters': 'viewer',
  'GET /api/v1/admins/edge_clusters': 'viewer',
  'GET /api/v1/admins/orphaned_clusters': 'viewer',
  'GET /api/v1/event_types': 'viewer',
  'GET /api/v1/admins/me/metrics': 'viewer',
  'GET /api/v1/admins/me/metrics/raw': 'viewer',

  'GET /api/v1/nodes/:node_id/metrics': 'viewer',
  'GET /api/v1/nodes/:node_id/metrics/host': 'viewer',
  'GET /api/v1/nodes/:node_id/metrics/agent': 'viewer',
  'GET /api/v1/nodes/:node_id/metrics/host/raw': 'viewer',
  'GET /api/v1/nodes/:node_id/metrics/agent/raw': 'viewer',
  'GET /api/v1/nodes/:node_id/metrics/wireguard/raw': 'viewer',

  'POST /api/v1/commands': 'operator',
  'GET /api/v1/commands': 'viewer',
  'GET /api/v1/commands/:id': 'viewer',
  'DELETE /api/v1/commands/:id': 'operator',
  'GET /api/v1/command_executions': 'viewer',
  'GET /api/v1/command_executions/:id': 'viewer',
  'DELETE /api/v1/command_executions/:id': 'operator',
  'PATCH /api/v1/command_executions/:id/cancel': 'operator',

  'POST /api/v1/nodes/:node_id/ssh_usernames': 'operator',
  'GET /api/v1/ssh_usernames': 'viewer',
  'GET /api/v1/ssh_usernames/:id': 'viewer',
  'DELETE /api/v1/ssh_usernames/:id': 'operator',
  'POST /api/v1/ssh_usernames/:ssh_username_id/ssh_public_keys': 'operator',
  'GET /api/v1/ssh_public_keys': 'viewer',
  'GET /api/v1/ssh_public_keys/:id': 'viewer',
  'DELETE /api/v1/ssh_public_keys/:id': 'operator',

  'POST /api/v1/self_update_requests': 'operator',
  'GET /api/v1/self_update_requests': 'viewer',
  'GET /api/v1/self_update_requests/:id': 'viewer',
  'DELETE /api/v1/self_update_requests/:id': 'operator',

  'POST /api/v1/webhooks': 'admin',
  'GET /api/v1/webhooks': 'viewer',
  'GET /api/v1/webhooks/:id': 'viewer',
  'DELETE /api/v1/webhooks/:id': 'admin',

  'POST /api/v1/vpn/users': 'admin',
  'GET /api/v1/vpn/users': 'viewer',
  'GET /api/v1/vpn/users/:id': 'viewer',
  'PATCH /api/v1/vpn/users/:id': 'admin',
  'DELETE /api/v1/vpn/users/:id': 'admin',
  'POST /api/v1/vpn/subscriptions': 'admin',
  'GET /api/v1/vpn/subscriptions': 'viewer',
  'GET /api/v1/vpn/subscriptions/:id': 'viewer',
  'PATCH /api/v1/vpn/subscriptions/:id': 'admin',
  'DELETE /api/v1/vpn/subscriptions/:id': 'admin',
  'POST /api/v1/vpn/subscriptions/:id/revoke': 'admin',
  'POST /api/v1/vpn/subscriptions/:id/reset_traffic': 'admin',
  'GET /api/v1/vpn/subscriptions/:id/protocols': 'viewer',
  'PUT /api/v1/vpn/subscriptions/:id/protocols': 'admin',
  'POST /api/v1/vpn/subscriptions/:id/protocols': 'admin',
  'DELETE /api/v1/vpn/subscriptions/:id/protocols/:node_protocol_id': 'admin',
  'POST /api/v1/vpn/nodes': 'admin',
  'GET /api/v1/vpn/nodes': 'viewer',
  'GET /api/v1/vpn/nodes/:id': 'viewer',
  'PATCH /api/v1/vpn/nodes/:id': 'admin',
  'DELETE /api/v1/vpn/nodes/:id': 'admin',
  'POST /api/v1/vpn/nodes/:id/reset_code': 'admin',
  'GET /api/v1/vpn/nodes/:id/config': 'viewer',
  'POST /api/v1/vpn/node_protocols': 'admin',
  'GET /api/v1/vpn/node_protocols': 'viewer',
  'GET /api/v1/vpn/node_protocols/:id': 'viewer',
  'PATCH /api/v1/vpn/node_protocols/:id': 'admin',
  'DELETE /api/v1/vpn/node_protocols/:id': 'admin',
  'POST /api/v1/vpn/node_outbounds': 'admin',
  'GET /api/v1/vpn/node_outbounds': 'viewer',
  'GET /api/v1/vpn/node_outbounds/:id': 'viewer',
  'PATCH /api/v1/vpn/node_outbounds/:id': 'admin',
  'DELETE /api/v1/vpn/node_outbounds/:id': 'admin',
  'GET /api/v1/vpn/usage': 'viewer',
  'GET /api/v1/vpn/session_events': 'viewer',

  // Operators (users: admin+, with the spec's super_admin rules in the service; self may read itself).
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/login-form': 'public',
  'POST /api/v1/auth/logout': 'viewer',
  'GET /api/v1/auth/me': 'viewer',
  'GET /api/v1/users': 'admin',
  'POST /api/v1/users': 'admin',
  'GET /api/v1/users/:id': 'viewer',
  'PUT /api/v1/users/:id': 'admin',
  'DELETE /api/v1/users/:id': 'admin',
  // Every operator manages their own tokens (a token's role never exceeds its owner's).
  'POST /api/v1/tokens': 'viewer',
  'GET /api/v1/tokens': 'viewer',
  'DELETE /api/v1/tokens/:id': 'viewer',

  'GET /api/v1/audit': 'admin',
  'GET /api/v1/settings': 'admin',
  'PUT /api/v1/settings': 'admin',
  'GET /api/v1/export': 'super_admin',
  'POST /api/v1/export': 'super_admin',
  'POST /api/v1/import': 'super_admin',
};

export interface AdminRoute {
  method: string;
  url: string;
  /** The credential the route takes: the API key's routes or the metrics key's. */
  auth: 'api' | 'metrics' | 'public';
  /** What the role gate enforces for it, read from the route's own declaration. */
  role: RouteRole;
}

/** The Admin API face: `/api/v1` without the agents' routes, and the root `/metrics` it guards too. */
const isAdminApi = (url: string) => url === '/metrics' || (url.startsWith('/api/v1/') && !url.startsWith('/api/v1/agents/'));

/** Every Admin API route the server registered, with the role its declaration makes the gate enforce. */
export function adminRoutes(registered: readonly RegisteredRoute[]): AdminRoute[] {
  return registered
    .filter((route) => isAdminApi(route.url))
    .map((route) => {
      const auth = route.config.auth ?? 'api';
      const role = auth === 'public' ? 'public' : requiredRole({ method: route.method, routeOptions: { config: route.config } } as FastifyRequest);
      return { method: route.method, url: route.url, auth, role };
    });
}

const PARAM_VALUES: Record<string, string> = {
  name: 'no-such-cluster',
  cluster_name: 'no-such-cluster',
  node_protocol_id: '999999',
};

/**
 * A request to the route that stores nothing whoever sends it: unknown ids, and on writes a body
 * of a content type no route parses (refused with 415 after the role gate has spoken).
 */
export function harmlessProbe(route: Pick<AdminRoute, 'method' | 'url'>): { path: string; body?: string; headers?: Record<string, string> } {
  const intIds = route.url.startsWith('/api/v1/vpn/');
  const path = route.url.replace(/:([A-Za-z_]+)/g, (_, name: string) => PARAM_VALUES[name] ?? (intIds ? '999999' : '00000000-0000-4000-8000-000000000000'));
  if (route.method === 'GET' || route.method === 'HEAD') return { path };
  return { path, body: 'probe', headers: { 'content-type': 'application/x-role-probe' } };
}

/**
 * Every manager-face REST route (issue 14, manager spec §5) and the lowest role it admits: viewer
 * reads nodes, configs, events and device types; operator runs commands, edits a node's config and
 * flows, reads tunnels and acknowledges events; admin manages nodes, tunnels, users and settings;
 * super_admin exports and imports. Sign-in and `/health` take no credential; the node and dashboard
 * WebSockets are public to the gate because they authenticate in their own handshakes.
 */
export const MANAGER_ROUTE_ROLES: Record<string, RouteRole> = {
  'GET /health': 'public',
  'GET /ws/node': 'public',
  'GET /ws/dashboard': 'public',

  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/login-form': 'public',
  'POST /api/v1/auth/logout': 'viewer',
  'GET /api/v1/users': 'admin',
  'POST /api/v1/users': 'admin',
  // Self or admin+: the service refuses another user's record below admin.
  'GET /api/v1/users/:id': 'viewer',
  'PUT /api/v1/users/:id': 'admin',
  'DELETE /api/v1/users/:id': 'admin',
  'GET /api/v1/settings': 'admin',
  'PUT /api/v1/settings': 'admin',
  'GET /api/v1/settings/tls': 'admin',
  'POST /api/v1/settings/tls/upload': 'admin',
  'GET /api/v1/export': 'super_admin',
  'POST /api/v1/import': 'super_admin',

  'GET /api/v1/nodes': 'viewer',
  'POST /api/v1/nodes': 'admin',
  'GET /api/v1/nodes/:id': 'viewer',
  'PUT /api/v1/nodes/:id': 'admin',
  'DELETE /api/v1/nodes/:id': 'admin',
  'POST /api/v1/nodes/:id/token': 'admin',
  'POST /api/v1/nodes/:id/rotate-secret': 'admin',
  // The command's own `requires_role` is checked by the service on top of this.
  'POST /api/v1/nodes/:id/command': 'operator',
  'GET /api/v1/nodes/:id/config': 'viewer',
  'PUT /api/v1/nodes/:id/config': 'operator',
  'POST /api/v1/nodes/:id/flows': 'operator',
  'DELETE /api/v1/nodes/:id/flows/:flow_id': 'operator',
  'GET /api/v1/nodes/endpoints': 'viewer',
  'GET /api/v1/device-types': 'viewer',

  'GET /api/v1/tunnels': 'operator',
  'POST /api/v1/tunnels': 'admin',
  'GET /api/v1/tunnels/:id': 'operator',
  'PUT /api/v1/tunnels/:id': 'admin',
  'DELETE /api/v1/tunnels/:id': 'admin',
  'GET /api/v1/nodes/:id/tunnels': 'operator',

  'GET /api/v1/events': 'viewer',
  'GET /api/v1/events/count': 'viewer',
  'POST /api/v1/events/:id/ack': 'operator',
};

/** Every route of the manager listener with the role its declaration makes the gate enforce. */
export function managerRoutes(registered: readonly RegisteredRoute[]): AdminRoute[] {
  return registered.map((route) => {
    const auth = route.config.auth === 'public' ? 'public' : 'api';
    const role = auth === 'public' ? 'public' : requiredRole({ method: route.method, routeOptions: { config: route.config } } as FastifyRequest);
    return { method: route.method, url: route.url, auth, role };
  });
}

/** The role matrices' vocabulary: who calls, and what each caller must meet on a route. */
export const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Admitted (any answer but 401/403), or refused with this status. */
export type Expectation = { admitted: true } | { admitted: false; status: 401 | 403 };

export interface Caller<C extends ApiClient = ApiClient> {
  name: string;
  client: C;
  expect(route: AdminRoute): Expectation;
}

export const byRole =
  (role: Role) =>
  (route: AdminRoute): Expectation =>
    roleRank(role) >= roleRank(route.role as Role) ? { admitted: true } : { admitted: false, status: 403 };

export const nothingOpens = (): Expectation => ({ admitted: false, status: 401 });

/** A session that sends no CSRF header reads but writes nothing. */
export const readsOnly = (route: AdminRoute): Expectation => (WRITES.has(route.method) ? { admitted: false, status: 403 } : { admitted: true });

/**
 * Asserts the caller met its expectation on the route; `refusedIn` checks a refusal's body in the
 * face's own error format.
 */
export function checkAccess(caller: Caller<any>, route: AdminRoute, res: ApiResponse, refusedIn: (res: ApiResponse, status: 401 | 403, what: string) => void) {
  const what = `${caller.name} on ${route.method} ${route.url}: ${res.status} ${res.text.slice(0, 200)}`;
  assert.ok(res.status < 500, what);
  const expected = caller.expect(route);
  if (expected.admitted) {
    assert.notEqual(res.status, 401, what);
    assert.notEqual(res.status, 403, what);
    return;
  }
  assert.equal(res.status, expected.status, what);
  refusedIn(res, expected.status, what);
}
