/**
 * Resolves a targeting object (edge-admin spec §8.1) to the edge nodes it reaches, with the list
 * filters of §4 (`nodeFilters`, `clusterFilters`), so "which nodes" means exactly what the node and
 * cluster lists would show. Every match is returned: fan-out has no page cap.
 */
import type { Kysely } from 'kysely';
import type { NodeFilters, Targeting } from '../../../contract/admin/targeting.ts';
import type { Database } from '../../db/schema.ts';
import type { NodeScope } from '../../db/scope.ts';
import type { ValidationDetails } from '../../errors.ts';
import { targetingRepo } from './targeting.repo.ts';

type Db = Kysely<Database>;

export interface ResolvedNode {
  id: string;
  clusterName: string | null;
}

export interface Resolution {
  nodes: ResolvedNode[];
  /** The one cluster `clusters` targeting resolved to, else null (executions store it, §8.1). */
  clusterId: string | null;
}

export interface ResolveOptions {
  /** Filters that win over the request's own (self-updates force status and self_update_enabled). */
  forcedNodeFilters?: Partial<NodeFilters>;
  /** Only this node can match (the agent's "does the newest request include me" check). */
  onlyNodeId?: string;
  /** The creator's node scope: nodes outside it are never reached, whatever the targeting says. */
  scope?: NodeScope;
}

/** Bind-parameter budget per statement: SQLite allows 32,766, and id lists can be longer. */
const ID_CHUNK = 5000;

/**
 * The 422 checks the schema cannot express: `node_ids`/`cluster_names` must be non-empty for their
 * type. Keys are flat, as upstream's form reports them.
 */
export function targetingErrors(targeting: Targeting): ValidationDetails {
  const errors: ValidationDetails = {};
  if (targeting.type === 'nodes' && !targeting.node_ids?.length) errors.node_ids = ["is required when targeting_type is 'nodes'"];
  if (targeting.type === 'clusters' && !targeting.cluster_names?.length) errors.cluster_names = ["is required when targeting_type is 'clusters'"];
  return errors;
}

export async function resolveTargeting(db: Db, targeting: Targeting, options: ResolveOptions = {}): Promise<Resolution> {
  const resolution = await resolveUnscoped(db, targeting, options);
  const scope = options.scope ?? null;
  if (scope === null) return resolution;
  const allowed = new Set(scope);
  return { ...resolution, nodes: resolution.nodes.filter((node) => allowed.has(node.id)) };
}

async function resolveUnscoped(db: Db, targeting: Targeting, options: ResolveOptions): Promise<Resolution> {
  const filters: Record<string, unknown> = { ...targeting.node_filters, ...options.forcedNodeFilters };
  switch (targeting.type) {
    case 'all': {
      const clusterIds =
        targeting.cluster_filters && Object.keys(targeting.cluster_filters).length > 0
          ? await targetingRepo.matchingClusters(db, targeting.cluster_filters)
          : null;
      if (clusterIds?.length === 0) return { nodes: [], clusterId: null };
      const nodes =
        clusterIds === null
          ? await targetingRepo.matchingNodes(db, filters, null, options.onlyNodeId)
          : await inChunks(clusterIds, (chunk) => targetingRepo.matchingNodes(db, filters, { clusterIds: chunk }, options.onlyNodeId));
      return { nodes, clusterId: null };
    }
    case 'nodes': {
      // Cluster filters do not apply to `nodes` targeting (upstream resolves ids with node filters only).
      const ids = [...new Set(targeting.node_ids ?? [])];
      const wanted = options.onlyNodeId === undefined ? ids : ids.filter((id) => id === options.onlyNodeId);
      return { nodes: await inChunks(wanted, (chunk) => targetingRepo.matchingNodes(db, filters, { nodeIds: chunk })), clusterId: null };
    }
    case 'clusters': {
      const names = [...new Set(targeting.cluster_names ?? [])];
      const clusterIds = await inChunks(names, (chunk) => targetingRepo.matchingClusters(db, targeting.cluster_filters ?? {}, chunk));
      const nodes = await inChunks(clusterIds, (chunk) => targetingRepo.matchingNodes(db, filters, { clusterIds: chunk }, options.onlyNodeId));
      return { nodes, clusterId: clusterIds.length === 1 ? clusterIds[0]! : null };
    }
  }
}

async function inChunks<T, R>(items: T[], query: (chunk: T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += ID_CHUNK) out.push(...(await query(items.slice(i, i + ID_CHUNK))));
  return out;
}
