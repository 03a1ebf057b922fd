/** The manager face's node shapes (manager spec §5.3) and its error body (§5.1). */
import { type Static, Type } from 'typebox';
import { Nullable, Timestamp } from '../types.ts';

/** Every manager error: `{"error": "..."}`. */
export const ManagerError = Type.Object({ error: Type.String() });

export const DEVICE_TYPES = ['edge', 'relay'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export const MANAGER_STATUSES = ['pending', 'online', 'offline', 'degraded', 'error'] as const;

export const ManagerNode = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  device_type: Type.String(),
  status: Type.String({ enum: [...MANAGER_STATUSES] }),
  last_seen_at: Nullable(Type.String()),
  /** The node's last `health` payload as it sent it. */
  last_health: Nullable(Type.Object({}, { additionalProperties: true })),
  /** Nodeplane's addition: a recent `stats` payload, sampled to the database at a bounded rate, and when. */
  last_stats: Nullable(Type.Object({}, { additionalProperties: true })),
  last_stats_at: Nullable(Type.String()),
  software_version: Nullable(Type.String()),
  metadata: Nullable(Type.Unknown()),
  expires_at: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type ManagerNode = Static<typeof ManagerNode>;

export const ManagerNodeCreated = Type.Object({ ...ManagerNode.properties, registration_token: Type.String() });
export type ManagerNodeCreated = Static<typeof ManagerNodeCreated>;

export const ManagerNodeCreateRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
    /** A registered device driver; anything else is refused by name. */
    device_type: Type.Optional(Type.String({ maxLength: 64 })),
    expires_at: Type.Optional(Nullable(Timestamp)),
  },
  { additionalProperties: false },
);
export type ManagerNodeCreateRequest = Static<typeof ManagerNodeCreateRequest>;

export const ManagerNodeUpdateRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
    /** null clears the expiry. */
    expires_at: Type.Optional(Nullable(Timestamp)),
  },
  { additionalProperties: false },
);
export type ManagerNodeUpdateRequest = Static<typeof ManagerNodeUpdateRequest>;

export const ManagerNodeListQuery = Type.Object({ device_type: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false });
export type ManagerNodeListQuery = Static<typeof ManagerNodeListQuery>;

export const ManagerNodeIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const RegistrationToken = Type.Object({ registration_token: Type.String() });

export const ManagerHealth = Type.Object({
  status: Type.String(),
  service: Type.String(),
  version: Type.String(),
  self_signed_cert: Type.Boolean(),
});
