/**
 * Traffic payloads of the Core node API (seed "Core Private Node Routes": NodeUsageDto,
 * NodeOutboundUsageDto, SessionEventsDto). Enum values are lowercase (`vless`, `online`): the origin's
 * casing is unknown (specs/core-node.md §7.1) and Xray spells protocols that way. Unknown fields are
 * tolerated, as on every agent-facing route; known ones are checked strictly.
 */
import { type Static, Type } from 'typebox';
import { VPN_PROTOCOLS } from './config.ts';
import { NodeAuthHeaders } from './node.ts';

export { VPN_PROTOCOLS };

/** Largest `entries`/`events` array one request may carry (spec §6: keep batches bounded). */
export const MAX_INGEST_BATCH = 5000;
export const MAX_OUTBOUND_ITEMS = 1000;

export const SESSION_EVENT_TYPES = ['online', 'offline'] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/** JSON numbers are exact up to 2^53 (spec §1.5); anything larger could not be summed exactly. */
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** Core's integer ids (users, subscriptions, node protocols). */
const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });
const Instant = Type.String({ format: 'date-time', maxLength: 64 });

export const UsageEntry = Type.Object({
  userId: Id,
  /** null or absent = not attributed to a subscription. */
  subscriptionId: Type.Optional(Type.Union([Id, Type.Null()])),
  nodeProtocolId: Id,
  bytesUp: Bytes,
  bytesDown: Bytes,
  /** Any instant within the minute; stored truncated to the minute (UTC). */
  recordedAt: Instant,
});
export type UsageEntry = Static<typeof UsageEntry>;

export const NodeUsageRequest = Type.Object({ entries: Type.Array(UsageEntry, { maxItems: MAX_INGEST_BATCH }) });
export type NodeUsageRequest = Static<typeof NodeUsageRequest>;

export const OutboundUsageItem = Type.Object({
  tag: Type.String({ minLength: 1, maxLength: 255 }),
  bytesUp: Bytes,
  bytesDown: Bytes,
});
export type OutboundUsageItem = Static<typeof OutboundUsageItem>;

export const NodeOutboundUsageRequest = Type.Object({ items: Type.Array(OutboundUsageItem, { maxItems: MAX_OUTBOUND_ITEMS }) });
export type NodeOutboundUsageRequest = Static<typeof NodeOutboundUsageRequest>;

export const SessionEventEntry = Type.Object({
  userId: Id,
  protocol: Type.Enum([...VPN_PROTOCOLS]),
  eventType: Type.Enum([...SESSION_EVENT_TYPES]),
  occurredAt: Instant,
  ipAddress: Type.Optional(Type.Union([Type.String({ format: 'ipv4' }), Type.String({ format: 'ipv6', maxLength: 64 })])),
});
export type SessionEventEntry = Static<typeof SessionEventEntry>;

export const SessionEventsRequest = Type.Object({ events: Type.Array(SessionEventEntry, { maxItems: MAX_INGEST_BATCH }) });
export type SessionEventsRequest = Static<typeof SessionEventsRequest>;

/**
 * Optional on the three ingest routes: a retried push with the same key is acknowledged and not
 * counted again (keys are remembered per node and route for a day).
 */
export const IngestHeaders = Type.Object({
  ...NodeAuthHeaders.properties,
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' })),
});
export type IngestHeaders = Static<typeof IngestHeaders>;

export const IngestOk = Type.Object({ ok: Type.Literal(true) });
