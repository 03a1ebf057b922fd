/**
 * Targeting (edge-admin spec §8.1), shared by commands and self-update requests: which edge nodes a
 * request reaches. Both filter objects are closed, so a misspelt filter is a 400 instead of a
 * silently wider fan-out. Whether `node_ids`/`cluster_names` are present for their type is a 422
 * from the service (the contract marks only `type` as required).
 */
import { Type, type Static } from 'typebox';
import { DateBound, Uuid } from '../types.ts';
import { IdType, NodeStatus } from './nodes.ts';

const StringFilter = Type.String({ maxLength: 500 });

export const TargetingType = Type.Enum(['all', 'nodes', 'clusters']);
export type TargetingType = Static<typeof TargetingType>;

/** The node list's filters (§4.3). */
export const NodeFilters = Type.Object(
  {
    id_type: Type.Optional(IdType),
    status: Type.Optional(NodeStatus),
    cluster_name: Type.Optional(StringFilter),
    version: Type.Optional(StringFilter),
    self_update_enabled: Type.Optional(Type.Boolean()),
    last_seen_at__gte: Type.Optional(DateBound),
    last_seen_at__lte: Type.Optional(DateBound),
    inserted_at__gte: Type.Optional(DateBound),
    inserted_at__lte: Type.Optional(DateBound),
    updated_at__gte: Type.Optional(DateBound),
    updated_at__lte: Type.Optional(DateBound),
  },
  { additionalProperties: false },
);
export type NodeFilters = Static<typeof NodeFilters>;

/** The subset of the cluster list's filters the contract allows here. */
export const ClusterFilters = Type.Object(
  {
    name: Type.Optional(StringFilter),
    ipv4_range: Type.Optional(StringFilter),
    node_count: Type.Optional(Type.Integer({ minimum: 0 })),
    node_count__gte: Type.Optional(Type.Integer({ minimum: 0 })),
    node_count__lte: Type.Optional(Type.Integer({ minimum: 0 })),
    has_node_limit: Type.Optional(Type.Boolean()),
    inserted_at__gte: Type.Optional(DateBound),
    inserted_at__lte: Type.Optional(DateBound),
    updated_at__gte: Type.Optional(DateBound),
    updated_at__lte: Type.Optional(DateBound),
  },
  { additionalProperties: false },
);
export type ClusterFilters = Static<typeof ClusterFilters>;

export const Targeting = Type.Object(
  {
    type: TargetingType,
    /** Required and non-empty for `nodes`; deduplicated; unknown ids are dropped. */
    node_ids: Type.Optional(Type.Array(Uuid)),
    /** Required and non-empty for `clusters`; deduplicated; unknown names are dropped. */
    cluster_names: Type.Optional(Type.Array(Type.String({ maxLength: 500 }))),
    node_filters: Type.Optional(NodeFilters),
    cluster_filters: Type.Optional(ClusterFilters),
  },
  { additionalProperties: false },
);
export type Targeting = Static<typeof Targeting>;
