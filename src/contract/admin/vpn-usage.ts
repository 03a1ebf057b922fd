/** Admin API reads of Core node traffic: per-minute usage records and session events. */
import { type Static, Type } from 'typebox';
import { DateBound, Nullable, PageParams, Timestamp, Uuid } from '../types.ts';
import { SESSION_EVENT_TYPES, VPN_PROTOCOLS } from '../core-node/ingest.ts';

const Id = Type.Integer({ minimum: 1 });
const Bytes = Type.Integer({ minimum: 0 });

export const UsageRecord = Type.Object({
  id: Type.Integer(),
  node_id: Uuid,
  node_protocol_id: Type.Integer(),
  user_id: Type.Integer(),
  /** null = traffic not attributed to a (still existing) subscription. */
  subscription_id: Nullable(Type.Integer()),
  /** Start of the minute the traffic was counted in. */
  recorded_at: Timestamp,
  bytes_up: Bytes,
  bytes_down: Bytes,
});
export type UsageRecord = Static<typeof UsageRecord>;

export const SessionEventRecord = Type.Object({
  id: Type.Integer(),
  node_id: Uuid,
  user_id: Type.Integer(),
  protocol: Type.String(),
  event_type: Type.String(),
  occurred_at: Timestamp,
  ip_address: Nullable(Type.String()),
  inserted_at: Timestamp,
});
export type SessionEventRecord = Static<typeof SessionEventRecord>;

const paging = { page: PageParams.page, page_size: PageParams.page_size, order_by: PageParams.order_by, order_directions: PageParams.order_directions };

// Closed, and without the inserted_at/updated_at ranges other lists have: these rows carry neither.
export const UsageListQuery = Type.Object(
  {
    ...paging,
    subscription_id: Type.Optional(Id),
    user_id: Type.Optional(Id),
    node_id: Type.Optional(Uuid),
    node_protocol_id: Type.Optional(Id),
    recorded_at__gte: Type.Optional(DateBound),
    recorded_at__lte: Type.Optional(DateBound),
  },
  { additionalProperties: false },
);
export type UsageListQuery = Static<typeof UsageListQuery>;

export const SessionEventListQuery = Type.Object(
  {
    ...paging,
    user_id: Type.Optional(Id),
    node_id: Type.Optional(Uuid),
    event_type: Type.Optional(Type.Enum([...SESSION_EVENT_TYPES])),
    protocol: Type.Optional(Type.Enum([...VPN_PROTOCOLS])),
    occurred_at__gte: Type.Optional(DateBound),
    occurred_at__lte: Type.Optional(DateBound),
  },
  { additionalProperties: false },
);
export type SessionEventListQuery = Static<typeof SessionEventListQuery>;
