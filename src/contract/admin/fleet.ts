/**
 * Admin API: the fleet view (`/api/v1/fleet`), every node of every kind in one list with one
 * status vocabulary. Each kind keeps its own list in its own face; this is the place they meet.
 */
import { Type, type Static } from 'typebox';
import { DateBound, ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';

/** Every kind of node the inventory holds (some faces are still to come). */
export const NODE_KINDS = ['edge-agent', 'core', 'mesh', 'manager-edge', 'manager-relay', 'pasarguard'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** The one status set every kind's own statuses map onto. */
export const FLEET_STATUSES = ['pending', 'online', 'degraded', 'offline', 'error'] as const;
export type FleetStatus = (typeof FLEET_STATUSES)[number];

/** Label keys: a name safe in a `key:value` filter (no `:` or `,`), like Kubernetes label names. */
export const LABEL_KEY = '^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$';
/** Label values: any text but a comma (it separates filter pairs) or a control character. */
export const LABEL_VALUE = '^[^,\\u0000-\\u001f\\u007f]*$';
export const MAX_LABELS = 64;

export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY, maxLength: 63 }), Type.String({ pattern: LABEL_VALUE, maxLength: 255 }), {
  maxProperties: MAX_LABELS,
  additionalProperties: false,
});
export type Labels = Static<typeof Labels>;

const oneOf = (values: readonly string[]) => values.join('|');
/** `a` or a comma list `a,b` of known values. */
const ListOf = (values: readonly string[]) => Type.String({ maxLength: 500, pattern: `^(${oneOf(values)})(,(${oneOf(values)}))*$` });

/** `key` (has the label) or `key:value` (has it with that value); pairs separated by commas all must hold. */
const LABEL_FILTER = `^[A-Za-z0-9._/-]+(:[^,\\u0000-\\u001f\\u007f]*)?(,[A-Za-z0-9._/-]+(:[^,\\u0000-\\u001f\\u007f]*)?)*$`;

export const FleetNode = Type.Object({
  id: Uuid,
  kind: Type.String(),
  name: Type.String(),
  cluster_name: Nullable(Type.String()),
  /** The shared status (FLEET_STATUSES). */
  status: Type.String(),
  /** The kind's own status it was mapped from (e.g. `unhealthy`, `disabled`), as the kind's own API shows it. */
  kind_status: Type.String(),
  last_seen_at: NullableTimestamp,
  version: Nullable(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type FleetNode = Static<typeof FleetNode>;

export const FleetNodeParams = Type.Object({ id: Uuid }, { additionalProperties: false });

/** `labels` replaces the node's whole label set; `{}` clears it. */
export const FleetNodeUpdateRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    labels: Type.Optional(Labels),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type FleetNodeUpdateRequest = Static<typeof FleetNodeUpdateRequest>;

const StringFilter = Type.String({ maxLength: 500 });

export const FleetListQuery = ListQuery({
  kind: Type.Optional(ListOf(NODE_KINDS)),
  status: Type.Optional(ListOf(FLEET_STATUSES)),
  cluster_name: Type.Optional(StringFilter),
  name: Type.Optional(StringFilter),
  version: Type.Optional(StringFilter),
  labels: Type.Optional(Type.String({ maxLength: 500, pattern: LABEL_FILTER })),
  last_seen_at__gte: Type.Optional(DateBound),
  last_seen_at__lte: Type.Optional(DateBound),
});
export type FleetListQuery = Static<typeof FleetListQuery>;
