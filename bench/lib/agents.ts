/** Registers emulated agents against a running server over HTTP, the way the agent does. */
import { randomUUID } from 'node:crypto';

export async function adminCall(url: string, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Creates a cluster big enough for `count` nodes and registers that many agents; returns their tokens. */
export async function registerAgents(url: string, masterKey: string, count: number, concurrency = 50): Promise<Array<{ nodeId: string; token: string }>> {
  const cluster = `bench-${randomUUID().slice(0, 8)}`;
  await adminCall(url, masterKey, 'POST', '/api/v1/clusters', { name: cluster, ipv4_range: '100.96.0.0/16' });
  const key = (await adminCall(url, masterKey, 'POST', `/api/v1/clusters/${cluster}/enrollment_keys`, { uses_remaining: null })).data.key;
  const out: Array<{ nodeId: string; token: string }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const ticket = (await adminCall(url, '', 'POST', '/api/v1/agents/enrollment_keys/verify', { key })).data.netmaker_key;
        const nodeId = randomUUID();
        const reg = await adminCall(url, ticket, 'POST', '/api/v1/agents/nodes', registrationBody(cluster, nodeId));
        out.push({ nodeId, token: reg.data.api_token });
      }
    }),
  );
  return out;
}

/** What an edge agent sends to `POST /api/v1/agents/nodes` (edge-admin spec §6.4). */
export function registrationBody(cluster: string, nodeId: string): Record<string, unknown> {
  return {
    node_id: nodeId,
    network_name: `cluster-${cluster}`,
    id_type: 'random',
    http_port: 44000,
    ssh_port: 40022,
    host_metrics_port: 49100,
    wireguard_metrics_port: 49586,
    http_proxy_port: 43128,
    socks5_proxy_port: 41080,
    version: 'bench',
    self_update_enabled: false,
  };
}
