/**
 * Small factories for test data: each creates one real row through the same code paths the product
 * uses (the API, or the service where no API creates the thing yet) and takes overrides.
 */
import { randomBytes } from 'node:crypto';
import type { ApiClient } from './server.ts';

export const uniqueName = (prefix = 'c') => `${prefix}-${randomBytes(4).toString('hex')}`;

export async function createCluster(api: ApiClient, overrides: Record<string, unknown> = {}) {
  const res = await api.post('/api/v1/clusters', { name: uniqueName(), ...overrides });
  if (res.status !== 201) throw new Error(`createCluster: ${res.status} ${res.text}`);
  return res.body.data as { id: string; name: string; ipv4_range: string; node_limit: number | null };
}

const eventKeys = new Map<string, string>();

/**
 * Commits one `edge.enrollment_key.verified` event the way an agent does: a successful verify of an
 * unlimited key (created once per server). Failed guesses no longer do: they are aggregated.
 */
export async function commitVerifiedEvent(api: ApiClient) {
  let key = eventKeys.get(api.baseUrl);
  if (!key) {
    const cluster = await createCluster(api);
    const res = await api.post(`/api/v1/clusters/${cluster.name}/enrollment_keys`, { uses_remaining: null });
    if (res.status !== 201) throw new Error(`commitVerifiedEvent: ${res.status} ${res.text}`);
    key = res.body.data.key as string;
    eventKeys.set(api.baseUrl, key);
  }
  return api.withToken(null).post('/api/v1/agents/enrollment_keys/verify', { key });
}
