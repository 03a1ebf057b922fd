/**
 * An emulated edge agent: registers over real HTTP exactly as the agent does (edge-admin spec
 * §6.4 step 4) and hands back a client that authenticates with the node's api_token.
 */
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../../src/server/context.ts';
import type { ApiClient } from './server.ts';

export const AGENT_PORTS = {
  http_port: 44000,
  ssh_port: 42222,
  host_metrics_port: 49100,
  wireguard_metrics_port: 49586,
  http_proxy_port: 44880,
  socks5_proxy_port: 44180,
} as const;

/** A complete registration body for `cluster`; overrides replace or add fields. */
export function registrationBody(cluster: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node_id: randomUUID(),
    network_name: `cluster-${cluster}`,
    id_type: 'random',
    ...AGENT_PORTS,
    version: '0.1.0',
    self_update_enabled: false,
    ...overrides,
  };
}

export interface RegisteredAgent {
  nodeId: string;
  apiToken: string;
  proxyPassword: string;
  /** Talks to the server as this node (Bearer api_token). */
  client: ApiClient;
  /** The registration body that was sent, to re-register with changes. */
  body: Record<string, unknown>;
}

const unlimitedKeys = new Map<string, string>();

/**
 * A join ticket for `cluster`, the way an agent gets one: verify an enrollment key (an unlimited
 * key per cluster, created once through the Admin API with the client's admin token).
 */
export async function joinTicket(api: ApiClient, cluster: string): Promise<string> {
  const cacheKey = `${api.baseUrl} ${cluster}`;
  let blob = unlimitedKeys.get(cacheKey);
  if (!blob) {
    const created = await api.post(`/api/v1/clusters/${cluster}/enrollment_keys`, { uses_remaining: null });
    if (created.status !== 201) throw new Error(`joinTicket: ${created.status} ${created.text}`);
    blob = created.body.data.key as string;
    unlimitedKeys.set(cacheKey, blob);
  }
  const verified = await api.withToken(null).post('/api/v1/agents/enrollment_keys/verify', { key: blob });
  if (!verified.body.data?.verified) throw new Error(`joinTicket: ${verified.text}`);
  return verified.body.data.netmaker_key as string;
}

/**
 * Registers a node in `cluster` (a name or anything with a `name`) with a fresh join ticket, or
 * with `token` (the node's current api_token) when given, and fails loudly unless the server
 * answers 201. Pass `node_id` to re-register an existing node.
 */
export async function registerAgent(
  api: ApiClient,
  { cluster, token, ...overrides }: { cluster: string | { name: string }; token?: string } & Record<string, unknown>,
): Promise<RegisteredAgent> {
  const clusterName = typeof cluster === 'string' ? cluster : cluster.name;
  const body = registrationBody(clusterName, overrides);
  const res = await api.withToken(token ?? (await joinTicket(api, clusterName))).post('/api/v1/agents/nodes', body);
  if (res.status !== 201) throw new Error(`registerAgent: ${res.status} ${res.text}`);
  const data = res.body.data as { node_id: string; api_token: string; proxy_password: string };
  return { nodeId: data.node_id, apiToken: data.api_token, proxyPassword: data.proxy_password, client: api.withToken(data.api_token), body };
}

/** Outbox events whose data names `nodeId`, oldest first (envelopes as published). */
export async function nodeEvents(ctx: AppContext, nodeId: string) {
  const rows = await ctx.database.db.selectFrom('events').select('envelope').orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.envelope) as { type: string; data: Record<string, any> }).filter((e) => e.data.node_id === nodeId);
}
