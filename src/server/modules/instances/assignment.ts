/**
 * Capacity math and the cluster→admin assignment of the edge-admin spec §12.1, as pure functions:
 * every instance feeds them the same database state and so reaches the same answer.
 */

export interface AdminBudget {
  name: string;
  maxWireguardPeers: number;
}

export interface AdminCapacity extends AdminBudget {
  adminPeerCount: number;
  edgeNodeCapacity: number;
}

export interface ClusterLoad {
  id: string;
  name: string;
  nodeCount: number;
}

export interface Assignment {
  /** cluster id → admin name. */
  owners: Map<string, string>;
  /** Ids of clusters no admin can fit, in assignment order. */
  orphaned: string[];
}

/** Every admin meshes with every other one, and each such peer costs one WireGuard slot. */
export function capacities(admins: AdminBudget[]): AdminCapacity[] {
  const adminPeerCount = Math.max(admins.length - 1, 0);
  return admins.map((a) => ({ ...a, adminPeerCount, edgeNodeCapacity: a.maxWireguardPeers - adminPeerCount }));
}

/**
 * Biggest clusters first; each goes to the admin that can still fit it with the fewest clusters,
 * then the most room left, then the smallest name. Clusters never split across admins, so one
 * that fits nowhere is orphaned even when the total capacity would hold it. Empty clusters are
 * assigned too, so a cluster has an owner before its first node arrives.
 *
 * The spec also prefers a cluster's previous owner before falling back to the name. That is left
 * out on purpose: the previous owner would live only in each instance's memory, an instance that
 * joins later has none, and the instances would then disagree about who owns a cluster for good.
 */
export function assignClusters(admins: AdminCapacity[], clusters: ClusterLoad[]): Assignment {
  const state = admins.map((a) => ({ name: a.name, remaining: a.edgeNodeCapacity, clusters: 0 }));
  const ordered = [...clusters].sort((a, b) => b.nodeCount - a.nodeCount || compare(a.name, b.name) || compare(a.id, b.id));
  const owners = new Map<string, string>();
  const orphaned: string[] = [];
  for (const cluster of ordered) {
    let best: (typeof state)[number] | undefined;
    for (const candidate of state) {
      if (candidate.remaining < cluster.nodeCount) continue;
      if (!best || better(candidate, best)) best = candidate;
    }
    if (!best) {
      orphaned.push(cluster.id);
      continue;
    }
    best.remaining -= cluster.nodeCount;
    best.clusters += 1;
    owners.set(cluster.id, best.name);
  }
  return { owners, orphaned };
}

function better(a: { name: string; remaining: number; clusters: number }, b: { name: string; remaining: number; clusters: number }): boolean {
  if (a.clusters !== b.clusters) return a.clusters < b.clusters;
  if (a.remaining !== b.remaining) return a.remaining > b.remaining;
  return compare(a.name, b.name) < 0;
}

/** Code-unit order, identical on every machine (localeCompare is not). */
export const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
