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
