/** The manager's events (manager spec §5.4): node `event` frames and the manager's own. */
import { type Static, Type } from 'typebox';
import { Nullable, Timestamp } from '../types.ts';

export const ManagerEvent = Type.Object({
  id: Type.Integer(),
  node_id: Type.String(),
  severity: Type.String(),
  category: Type.String(),
  message: Type.String(),
  details: Nullable(Type.Unknown()),
  flow_id: Nullable(Type.String()),
  created_at: Type.String(),
  acknowledged: Type.Boolean(),
  /** The acknowledging operator's id. */
  acknowledged_by: Nullable(Type.String()),
});
export type ManagerEvent = Static<typeof ManagerEvent>;

export const MAX_EVENTS_PER_PAGE = 200;

export const ManagerEventListQuery = Type.Object(
  {
    node_id: Type.Optional(Type.String({ maxLength: 64 })),
    severity: Type.Optional(Type.String({ maxLength: 32 })),
    category: Type.Optional(Type.String({ maxLength: 256 })),
    flow_id: Type.Optional(Type.String({ maxLength: 256 })),
    /** Matches message, category, node id or severity (as text, no wildcards). */
    search: Type.Optional(Type.String({ maxLength: 256 })),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENTS_PER_PAGE, default: 50 })),
  },
  { additionalProperties: false },
);
export type ManagerEventListQuery = Static<typeof ManagerEventListQuery>;

export const ManagerEventIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

export const ManagerEventCount = Type.Object({ count: Type.Integer() });
