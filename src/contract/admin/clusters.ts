import { Type, type Static } from 'typebox';
import { DnsLabel, ListQuery, Nullable, Timestamp, Uuid } from '../types.ts';

export const ClusterName = DnsLabel(24);

export const NodeSummary = Type.Object({
  id: Type.String(),
  status: Type.String(),
  id_type: Nullable(Type.String()),
  vpn_hostname: Type.String(),
});

export const Cluster = Type.Object({
  id: Uuid,
  name: Type.String(),
  ipv4_range: Type.String(),
  node_limit: Nullable(Type.Integer()),
  node_count: Type.Integer(),
  nodes: Type.Array(NodeSummary),
  network_name: Type.String(),
  vpn_domain: Type.String(),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type Cluster = Static<typeof Cluster>;

export const ClusterCreateRequest = Type.Object(
  {
    name: ClusterName,
    ipv4_range: Type.Optional(Nullable(Type.String({ pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\/\\d{1,2}$' }))),
    node_limit: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
);
export type ClusterCreateRequest = Static<typeof ClusterCreateRequest>;

export const ClusterUpdateRequest = Type.Object({ node_limit: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))) }, { additionalProperties: false });
export type ClusterUpdateRequest = Static<typeof ClusterUpdateRequest>;

export const ClusterNameParams = Type.Object({ name: ClusterName }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const ClusterListQuery = ListQuery({
  name: Type.Optional(StringFilter),
  ipv4_range: Type.Optional(StringFilter),
  node_limit: Type.Optional(Type.Integer({ minimum: 1 })),
  has_node_limit: Type.Optional(Type.Boolean()),
  node_count__gte: Type.Optional(Type.Integer({ minimum: 0 })),
  node_count__lte: Type.Optional(Type.Integer({ minimum: 0 })),
  node_limit__gte: Type.Optional(Type.Integer({ minimum: 1 })),
  node_limit__lte: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type ClusterListQuery = Static<typeof ClusterListQuery>;
