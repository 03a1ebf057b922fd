/**
 * Admin API: subscriptions (`/api/v1/vpn/subscriptions`), the billing unit of the VPN service. Each
 * carries a link UUID, the credential of every protocol and the `clientMap` key (core-node.md §1.1),
 * and the node protocols it may use (its grants).
 */
import { Type, type Static } from 'typebox';
import { DateBound, ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';
import { IntId } from './vpn-users.ts';

/** `limited` and `expired` are reached, never requested: an operator sets active or disabled. */
export const SubscriptionStatus = Type.Enum(['active', 'disabled', 'limited', 'expired']);
export const SettableSubscriptionStatus = Type.Enum(['active', 'disabled']);
export const ResetStrategy = Type.Enum(['no_reset', 'day', 'week', 'month']);

/** Byte counts are exact in JSON numbers up to 2^53 (about 9 PB). */
export const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const NodeProtocolIds = Type.Array(IntId, { maxItems: 1000, uniqueItems: true });

export const VpnSubscription = Type.Object({
  id: Type.Integer(),
  user_id: Type.Integer(),
  link_uuid: Uuid,
  status: Type.String(),
  /** 0 = unlimited; counts upload and download together. */
  traffic_limit_bytes: Type.Integer(),
  used_up_bytes: Type.Integer(),
  used_down_bytes: Type.Integer(),
  used_bytes: Type.Integer(),
  lifetime_used_bytes: Type.Integer(),
  reset_strategy: Type.String(),
  last_reset_at: NullableTimestamp,
  expires_at: NullableTimestamp,
  /** When the link UUID was last rotated; the subscription itself stays usable under the new one. */
  revoked_at: NullableTimestamp,
  online: Type.Boolean(),
  online_at: NullableTimestamp,
  last_node_id: Nullable(Type.String()),
  node_protocol_ids: Type.Array(Type.Integer()),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type VpnSubscription = Static<typeof VpnSubscription>;

export const VpnSubscriptionCreateRequest = Type.Object(
  {
    user_id: IntId,
    status: Type.Optional(SettableSubscriptionStatus),
    traffic_limit_bytes: Type.Optional(Bytes),
    reset_strategy: Type.Optional(ResetStrategy),
    expires_at: Type.Optional(NullableTimestamp),
    node_protocol_ids: Type.Optional(NodeProtocolIds),
  },
  { additionalProperties: false },
);
export type VpnSubscriptionCreateRequest = Static<typeof VpnSubscriptionCreateRequest>;

/** Absent = unchanged; `expires_at: null` = never expires. */
export const VpnSubscriptionUpdateRequest = Type.Object(
  {
    status: Type.Optional(SettableSubscriptionStatus),
    traffic_limit_bytes: Type.Optional(Bytes),
    reset_strategy: Type.Optional(ResetStrategy),
    expires_at: Type.Optional(NullableTimestamp),
  },
  { additionalProperties: false },
);
export type VpnSubscriptionUpdateRequest = Static<typeof VpnSubscriptionUpdateRequest>;

/** Action bodies (revoke, reset_traffic) take nothing; a missing body arrives as null. */
export const EmptyBody = Nullable(Type.Object({}, { additionalProperties: false }));

export const GrantsRequest = Type.Object({ node_protocol_ids: NodeProtocolIds }, { additionalProperties: false });
export type GrantsRequest = Static<typeof GrantsRequest>;

export const GrantParams = Type.Object({ id: IntId, node_protocol_id: IntId }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const VpnSubscriptionListQuery = ListQuery({
  user_id: Type.Optional(IntId),
  status: Type.Optional(StringFilter),
  reset_strategy: Type.Optional(StringFilter),
  link_uuid: Type.Optional(Uuid),
  /** Subscriptions granted this node protocol, or any protocol of this node. */
  node_protocol_id: Type.Optional(IntId),
  node_id: Type.Optional(Uuid),
  has_expiry: Type.Optional(Type.Boolean()),
  is_unlimited: Type.Optional(Type.Boolean()),
  online: Type.Optional(Type.Boolean()),
  expires_at__gte: Type.Optional(DateBound),
  expires_at__lte: Type.Optional(DateBound),
});
export type VpnSubscriptionListQuery = Static<typeof VpnSubscriptionListQuery>;
