/** Admin instances, the admin cluster and its metadata (edge-admin spec §12.1), and the event catalog. */
import { Type, type Static } from 'typebox';
import { Nullable, NullableTimestamp, Uuid } from '../types.ts';

export const AdminTopologyEntry = Type.Object({
  name: Type.String(),
  vpn_hostname: Type.String(),
  erlang_node_name: Type.String(),
  netmaker_host_id: Uuid,
  max_wireguard_peers: Type.Integer(),
  admin_peer_count: Type.Integer(),
  edge_node_capacity: Type.Integer(),
});
export type AdminTopologyEntry = Static<typeof AdminTopologyEntry>;

export const Admin = Type.Object({
  id: Type.String(),
  name: Type.String(),
  max_wireguard_peers: Type.Integer(),
  admin_peer_count: Type.Integer(),
  edge_node_capacity: Type.Integer(),
  erlang_node_name: Type.String(),
  vpn_hostname: Type.String(),
  admin_cluster_name: Type.String(),
  netmaker_host_id: Uuid,
  last_computed_at: NullableTimestamp,
});
export type Admin = Static<typeof Admin>;

export const MyAdminCluster = Type.Object({
  name: Type.String(),
  total_admins: Type.Integer(),
  total_nodes: Type.Integer(),
  total_edge_capacity: Type.Integer(),
  degraded: Type.Boolean(),
  weak_leader: Type.String(),
  topology: Type.Array(AdminTopologyEntry),
});
export type MyAdminCluster = Static<typeof MyAdminCluster>;

export const ADMIN_STATUSES = ['online', 'offline', 'disconnected'] as const;
export type AdminStatus = (typeof ADMIN_STATUSES)[number];

export const AdminClusterMember = Type.Object({
  name: Type.String(),
  vpn_hostname: Type.String(),
  netmaker_host_id: Uuid,
  ipv4_address: Nullable(Type.String()),
  wireguard_ip_address: Nullable(Type.String()),
  wireguard_port: Nullable(Type.Integer()),
  use_static_port: Type.Boolean(),
  // Spelled out because `nullable` needs a sibling `type`, which a union of literals lacks.
  status: Type.Unsafe<AdminStatus | null>({ type: 'string', enum: [...ADMIN_STATUSES, null], nullable: true }),
  last_checked_in: NullableTimestamp,
});
export type AdminClusterMember = Static<typeof AdminClusterMember>;

export const AdminCluster = Type.Object({
  name: Type.String(),
  ipv4_range: Type.String(),
  admin_count: Type.Integer(),
  admins: Type.Array(AdminClusterMember),
});
export type AdminCluster = Static<typeof AdminCluster>;

/** `cluster-<name>` → `["node-<uuid>", …]`. */
export const ClusterNodeNames = Type.Record(Type.String(), Type.Array(Type.String()));
export type ClusterNodeNames = Static<typeof ClusterNodeNames>;

/** `admin-<id>` → its clusters. */
export const EdgeClusters = Type.Record(Type.String(), ClusterNodeNames);
export type EdgeClusters = Static<typeof EdgeClusters>;

export const OrphanedClusters = ClusterNodeNames;
export type OrphanedClusters = Static<typeof OrphanedClusters>;

export const AdminDiscovery = Type.Object({ name: Type.String() });

export const EventTypeList = Type.Array(Type.String());
