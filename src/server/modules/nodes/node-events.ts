/**
 * `data` of the `edge.node.*` events (edge-admin spec §11.2). One builder for every emitter, so
 * registration, status changes, cluster moves and later self-update triggers publish one shape.
 * Secrets never appear here.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { EdgeNodeEventData } from '../../events/catalog.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import { type EdgeNodeRecord, nodeRepo } from './node.repo.ts';

export function edgeNodeEventData(node: EdgeNodeRecord): EdgeNodeEventData {
  return {
    node_id: node.id,
    cluster_name: node.cluster_name,
    status: node.status,
    version: node.version,
    id_type: node.id_type,
    http_port: node.http_port,
    ssh_port: node.ssh_port,
    host_metrics_port: node.host_metrics_port,
    wireguard_metrics_port: node.wireguard_metrics_port,
    http_proxy_port: node.http_proxy_port,
    socks5_proxy_port: node.socks5_proxy_port,
    self_update_enabled: node.self_update_enabled === 1,
    last_seen_at: toSecondPrecision(node.last_seen_at),
    inserted_at: toSecondPrecision(node.inserted_at),
    updated_at: toSecondPrecision(node.updated_at),
  };
}

/** Reads the node (inside the caller's transaction, so the data reflects its change) and builds the data. */
export async function loadEdgeNodeEventData(db: Kysely<Database>, nodeId: string): Promise<EdgeNodeEventData | null> {
  const node = await nodeRepo.find(db, nodeId);
  return node ? edgeNodeEventData(node) : null;
}
