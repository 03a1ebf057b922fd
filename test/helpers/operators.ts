/**
 * Operators for tests, made through the API: `createOperator` (POST /api/v1/users with the master
 * key), `loginAs` (a client that sends the session cookie and X-CSRF-Token), `tokenFor` (an API
 * token of a signed-in operator). Every login comes from its own X-Forwarded-For address (startServer
 * trusts loopback as a proxy), so helper logins never trip the 5-per-minute login limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ApiClient, type ApiResponse } from './server.ts';

/** Meets the CLI's complexity rule too. */
export const PASSWORD = 'Operator-Passw0rd';

export interface Operator {
  id: string;
  username: string;
  password: string;
  role: string;
  user: any;
}

/** A new operator (viewer by default); `api` must be allowed to create it (the master key always is). */
export async function createOperator(api: ApiClient, overrides: Record<string, unknown> = {}): Promise<Operator> {
  const body = { username: `op-${randomBytes(4).toString('hex')}`, password: PASSWORD, role: 'viewer', ...overrides };
  const res = await api.post('/api/v1/users', body);
  assert.equal(res.status, 201, res.text);
  return { id: res.body.data.id, username: body.username as string, password: body.password as string, role: body.role as string, user: res.body.data };
}

let lastAddress = 0;
/** A fresh client address (10.x.y.z) per login, for X-Forwarded-For. */
export const nextAddress = () => {
  lastAddress += 1;
  return `10.${(lastAddress >> 16) & 255}.${(lastAddress >> 8) & 255}.${lastAddress & 255}`;
};

/** POST /api/v1/auth/login as it is, from `address` (a fresh one by default). */
export function login(api: ApiClient, username: string, password: string, address = nextAddress()): Promise<ApiResponse> {
  return api.withToken(null).request('POST', '/api/v1/auth/login', { body: { username, password }, headers: { 'x-forwarded-for': address } });
}

/** The cookies a response sets, by name. */
export function cookiesOf(res: ApiResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    out[pair!.slice(0, eq).trim()] = pair!.slice(eq + 1);
  }
  return out;
}

export interface SessionClient extends ApiClient {
  session: string;
  csrf: string;
}

/**
 * Signs in and returns a client of the same kind (the Admin API's, or the manager listener's over
 * HTTPS) that sends the session cookie and the CSRF header (no bearer).
 */
export async function loginAs<C extends ApiClient>(api: C, username: string, password = PASSWORD): Promise<C & { session: string; csrf: string }> {
  const res = await login(api, username, password);
  assert.equal(res.status, 200, res.text);
  const cookies = cookiesOf(res);
  const client = api
    .withToken(null)
    .withHeaders({ cookie: `session=${cookies.session}; csrf_token=${cookies.csrf_token}`, 'x-csrf-token': cookies.csrf_token! });
  return Object.assign(client, { session: cookies.session!, csrf: cookies.csrf_token! });
}

/** A new operator of `role`, signed in. */
export async function signedIn(api: ApiClient, overrides: Record<string, unknown> = {}): Promise<SessionClient & { operator: Operator }> {
  const operator = await createOperator(api, overrides);
  return Object.assign(await loginAs(api, operator.username, operator.password), { operator });
}

/** An API token made by the signed-in `client` (role = the token's; default viewer), and a client that bears it. */
export async function tokenFor(client: ApiClient, overrides: Record<string, unknown> = {}): Promise<{ token: string; id: string; api: ApiClient }> {
  const res = await client.post('/api/v1/tokens', { name: `t-${randomBytes(4).toString('hex')}`, role: 'viewer', ...overrides });
  assert.equal(res.status, 201, res.text);
  return { token: res.body.data.token, id: res.body.data.id, api: new ApiClient(client.baseUrl, res.body.data.token) };
}
