/** Row types of clusters and what enrolls nodes into them. */

export interface ClustersTable {
  id: string;
  name: string;
  ipv4_range: string;
  node_limit: number | null;
  inserted_at: string;
  updated_at: string;
}

export interface EnrollmentKeysTable {
  id: string;
  cluster_id: string;
  name: string | null;
  key: string;
  uses_remaining: number | null;
  expired_at: string | null;
  last_used_at: string | null;
  inserted_at: string;
  updated_at: string;
}

export interface JoinTicketsTable {
  ticket_hash: string;
  cluster_id: string;
  expires_at: string;
}

export interface ClusterTables {
  clusters: ClustersTable;
  enrollment_keys: EnrollmentKeysTable;
  join_tickets: JoinTicketsTable;
}
