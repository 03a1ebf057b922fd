import { Type, type Static } from 'typebox';
import { DateBound, ListQuery, Nullable, Timestamp, Uuid } from '../types.ts';
import { ClusterName } from './clusters.ts';

export const NodeStatus = Type.Enum(['healthy', 'unhealthy', 'unreachable']);
export type NodeStatus = Static<typeof NodeStatus>;

export const IdType = Type.Enum(['persistent', 'random']);
export type IdType = Static<typeof IdType>;

export const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const NodeAlias = Type.Object({
  id: Uuid,
  name: Type.String(),
  vpn_hostname: Type.String(),
});

/** NodeResponse of the contract plus the `aliases` array the upstream view adds (§3.2). */
export const Node = Type.Object({
  id: Uuid,
  node_name: Type.String(),
  cluster_name: Nullable(Type.String()),
  /** Always null: Nodeplane is its own VPN controller, there is no Netmaker host. */
  netmaker_host_id: Nullable(Type.String()),
  id_type: Type.String(),
  status: Type.String(),
  vpn_hostname: Type.String(),
  mdns_hostname: Type.String(),
  http_port: Type.Integer(),
  ssh_port: Type.Integer(),
  host_metrics_port: Type.Integer(),
  wireguard_metrics_port: Type.Integer(),
  http_proxy_port: Type.Integer(),
  socks5_proxy_port: Type.Integer(),
  api_token: Type.String(),
  proxy_password: Type.String(),
  version: Nullable(Type.String()),
  self_update_enabled: Type.Boolean(),
  last_seen_at: Nullable(Timestamp),
  inserted_at: Timestamp,
  updated_at: Timestamp,
  aliases: Type.Array(NodeAlias),
});
export type Node = Static<typeof Node>;

export const NodeIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const ChangeClusterRequest = Type.Object({ cluster_name: ClusterName });
export type ChangeClusterRequest = Static<typeof ChangeClusterRequest>;

const StringFilter = Type.String({ maxLength: 500 });

export const NodeListQuery = ListQuery({
  id_type: Type.Optional(IdType),
  status: Type.Optional(NodeStatus),
  version: Type.Optional(StringFilter),
  self_update_enabled: Type.Optional(Type.Boolean()),
  cluster_name: Type.Optional(StringFilter),
  last_seen_at__gte: Type.Optional(DateBound),
  last_seen_at__lte: Type.Optional(DateBound),
});
export type NodeListQuery = Static<typeof NodeListQuery>;
