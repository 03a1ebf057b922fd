/** Row types of the inventory (`nodes`) and its side tables keyed by node id. */

/** One inventory: every node of every kind. Facts of one face live in side tables keyed by id. */
export interface NodesTable {
  id: string;
  kind: string;
  name: string;
  cluster_id: string | null;
  status: string;
  last_seen_at: string | null;
  version: string | null;
  labels: string;
  inserted_at: string;
  updated_at: string;
}

export interface EdgeNodesTable {
  node_id: string;
  id_type: string;
  http_port: number;
  ssh_port: number;
  host_metrics_port: number;
  wireguard_metrics_port: number;
  http_proxy_port: number;
  socks5_proxy_port: number;
  self_update_enabled: number;
  api_token_hash: string;
  api_token_enc: string;
  proxy_password_enc: string;
}

export interface AddressAllocationsTable {
  node_id: string;
  cluster_id: string;
  address: number;
}

export interface AliasesTable {
  id: string;
  name: string;
  node_id: string;
  cluster_id: string;
  inserted_at: string;
  updated_at: string;
}

/** The latest snapshot a node pushed per metrics type (host | agent | wireguard). */
export interface NodeMetricsTable {
  node_id: string;
  metrics_type: string;
  id: string;
  metrics_text: string;
  updated_at: string;
}

export interface NodeTables {
  nodes: NodesTable;
  edge_nodes: EdgeNodesTable;
  address_allocations: AddressAllocationsTable;
  aliases: AliasesTable;
  node_metrics: NodeMetricsTable;
}
