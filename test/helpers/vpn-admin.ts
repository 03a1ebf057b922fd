/**
 * VPN service test data made through the Admin API (users, subscriptions, Core nodes with a
 * registered agent, protocols), and a client for the Core node face that sends x-node-auth-key.
 */
import { randomBytes } from 'node:crypto';
import type { ApiClient, ApiResponse } from './server.ts';

const suffix = () => randomBytes(4).toString('hex');

async function expect201<T>(res: Promise<ApiResponse>, what: string): Promise<T> {
  const r = await res;
  if (r.status !== 201) throw new Error(`${what}: ${r.status} ${r.text}`);
  return r.body.data as T;
}

export const createUser = (api: ApiClient, overrides: Record<string, unknown> = {}) =>
  expect201<{ id: number; username: string }>(api.post('/api/v1/vpn/users', { username: `user-${suffix()}`, ...overrides }), 'createUser');

export const createNode = (api: ApiClient, overrides: Record<string, unknown> = {}) => {
  const name = `core-${suffix()}`;
  // A node a test runs on this machine (host 127.0.0.1) carries traffic to the test's local HTTP
  // servers, which stand in for the internet; rendered configs block loopback unless opened.
  const local = overrides.host === '127.0.0.1' ? { allowed_destinations: ['127.0.0.0/8'] } : {};
  return expect201<{ id: string; name: string; core_id: number; registration_code: string; code: string; revision: number; host: string }>(
    api.post('/api/v1/vpn/nodes', { name, host: `${name}.vpn.example.com`, ...local, ...overrides }),
    'createNode',
  );
};

export const createProtocol = (api: ApiClient, nodeId: string, body: Record<string, unknown>) =>
  expect201<{ id: number; tag: string; node_id: string }>(api.post('/api/v1/vpn/node_protocols', { node_id: nodeId, ...body }), 'createProtocol');

export const createSubscription = (api: ApiClient, userId: number, overrides: Record<string, unknown> = {}) =>
  expect201<{ id: number; link_uuid: string; status: string; node_protocol_ids: number[] }>(
    api.post('/api/v1/vpn/subscriptions', { user_id: userId, ...overrides }),
    'createSubscription',
  );

/** The Core node face as an agent sees it. */
export class NodeClient {
  readonly api: ApiClient;

  constructor(
    api: ApiClient,
    readonly authKey: string | null,
  ) {
    // Agents have no Admin API key.
    this.api = api.withToken(null);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.authKey !== null ? { 'x-node-auth-key': this.authKey } : {}), ...extra };
  }

  post = (path: string, body?: unknown, headers?: Record<string, string>) => this.api.request('POST', `/node${path}`, { body, headers: this.headers(headers) });
  get = (path: string, headers?: Record<string, string>) => this.api.request('GET', `/node${path}`, { headers: this.headers(headers) });
}

export function registrationBody(code: string, overrides: Record<string, unknown> = {}) {
  return { code, name: `agent-${suffix()}`, host: `h-${suffix()}.vpn.example.com`, ip: '203.0.113.10', region: 'eu-west', ...overrides };
}

/** Creates a node through the Admin API and registers an agent for it; returns the agent's client. */
export async function registeredNode(api: ApiClient, overrides: Record<string, unknown> = {}) {
  const node = await createNode(api, overrides);
  const res = await new NodeClient(api, null).post('/register', registrationBody(node.registration_code, { host: node.host }));
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.text}`);
  return { node, authKey: res.body.authKey as string, client: new NodeClient(api, res.body.authKey) };
}
