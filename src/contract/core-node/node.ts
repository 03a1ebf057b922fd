/**
 * Request and response bodies of the Core node routes that drive a node's lifecycle
 * (seed 000 "Core Private Node Routes": register, heartbeat, config/latest, config/applied, error).
 * Unknown body fields are tolerated, as on every agent-facing route: real agents may send more.
 */
import { Type, type Static } from 'typebox';
import { Nullable } from '../types.ts';

/** A DNS name, an IPv4 address or an IPv6 literal. */
export const HOST_PATTERN = '^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*$';
export const HostName = Type.String({ minLength: 1, maxLength: 253, pattern: HOST_PATTERN });
export const IpAddress = Type.String({ maxLength: 45, anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] });

export const RegisterNodeDto = Type.Object({
  /** The registration code an operator got from `POST /api/v1/vpn/nodes` (or its reset_code). */
  code: Type.String({ minLength: 1, maxLength: 200 }),
  name: Type.String({ minLength: 1, maxLength: 100 }),
  host: HostName,
  ip: IpAddress,
  region: Type.String({ maxLength: 64 }),
});
export type RegisterNodeDto = Static<typeof RegisterNodeDto>;

export const RegisterNodeResponse = Type.Object({
  /** Shown once; Core keeps only its SHA-256. Sent back as `x-node-auth-key`. */
  authKey: Type.String(),
  nodeId: Type.Integer(),
});

/** The body may be absent (null) or `{}`: a revision-less heartbeat always asks for a sync. */
export const NodeHeartbeatDto = Nullable(
  Type.Object({
    ip: Type.Optional(IpAddress),
    revision: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
);
export type NodeHeartbeatDto = Static<typeof NodeHeartbeatDto>;

/** Nodeplane's addition to `GET /node/config/latest`: hold a 304 up to `wait` seconds for a change. */
export const ConfigLatestQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 60, description: 'seconds to hold a 304 (If-None-Match naming the current ETag) until the config changes' }),
    ),
  },
  { additionalProperties: false },
);

export const NodeHeartbeatResponse = Type.Object({ ok: Type.Boolean(), needSync: Type.Boolean() });

export const NodeConfigAppliedDto = Type.Object({ revision: Type.Integer({ minimum: 1 }) });
export type NodeConfigAppliedDto = Static<typeof NodeConfigAppliedDto>;

export const NodeErrorDto = Type.Object({
  message: Type.String({ minLength: 1, maxLength: 4000 }),
  code: Type.Optional(Type.String({ maxLength: 200 })),
  details: Type.Optional(Type.Object({}, { additionalProperties: true, maxProperties: 100 })),
});
export type NodeErrorDto = Static<typeof NodeErrorDto>;

export const OkResponse = Type.Object({ ok: Type.Boolean() });

/** NestJS's error body: `message` is a list of messages for validation failures. */
export const CoreErrorBody = Type.Object({
  statusCode: Type.Integer(),
  message: Type.Union([Type.String(), Type.Array(Type.String())]),
  error: Type.String(),
});

/** Documents the auth header; the check itself runs before validation (faces/core-node/http.ts). */
export const NodeAuthHeaders = Type.Object({ 'x-node-auth-key': Type.String({ minLength: 1, maxLength: 512 }) });
