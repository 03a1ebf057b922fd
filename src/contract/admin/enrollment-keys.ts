import { Type, type Static, type TSchema } from 'typebox';
import { DateBound, ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';
import { ClusterName } from './clusters.ts';

export const EnrollmentKey = Type.Object({
  id: Uuid,
  cluster_name: Type.String(),
  name: Nullable(Type.String()),
  /** The blob an agent gets as ENROLLMENT_KEY: base64 JSON `{admin_urls, nonce}`. */
  key: Type.String(),
  /** null = unlimited. */
  uses_remaining: Nullable(Type.Integer()),
  expired_at: NullableTimestamp,
  last_used_at: NullableTimestamp,
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type EnrollmentKey = Static<typeof EnrollmentKey>;

/** The column is a 32-bit integer on Postgres; anything larger must be a 400, not a 500. */
const UsesRemaining = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

const keyFields = {
  name: Type.Optional(Nullable(Type.String())),
  uses_remaining: Type.Optional(Nullable(UsesRemaining)),
  expired_at: Type.Optional(NullableTimestamp),
};

/**
 * The body of these requests is optional. Fastify validates a missing body as `null`, so the
 * object schema is made nullable; the service treats null like `{}`.
 */
const OptionalBody = <T extends TSchema>(schema: T) => Nullable(schema);

/** Omitted `uses_remaining` means 1; explicit null means unlimited. */
export const EnrollmentKeyCreateRequest = OptionalBody(Type.Object(keyFields, { additionalProperties: false }));
export type EnrollmentKeyCreateRequest = Static<typeof EnrollmentKeyCreateRequest>;

/** Absent = unchanged, null = clear (`uses_remaining: null` = unlimited). */
export const EnrollmentKeyUpdateRequest = OptionalBody(Type.Object(keyFields, { additionalProperties: false }));
export type EnrollmentKeyUpdateRequest = Static<typeof EnrollmentKeyUpdateRequest>;

export const EnrollmentKeyIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const ClusterNameParam = Type.Object({ cluster_name: ClusterName }, { additionalProperties: false });

/** Routes that take no query parameters still reject unknown ones (edge-admin spec §1.4). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const EnrollmentKeyListQuery = ListQuery({
  cluster_name: Type.Optional(StringFilter),
  name: Type.Optional(StringFilter),
  has_name: Type.Optional(Type.Boolean()),
  key: Type.Optional(StringFilter),
  uses_remaining: Type.Optional(Type.Integer({ minimum: 1 })),
  is_unlimited: Type.Optional(Type.Boolean()),
  is_spent: Type.Optional(Type.Boolean()),
  is_expired: Type.Optional(Type.Boolean()),
  is_never_used: Type.Optional(Type.Boolean()),
  has_expiry: Type.Optional(Type.Boolean()),
  uses_remaining__gte: Type.Optional(Type.Integer({ minimum: 0 })),
  uses_remaining__lte: Type.Optional(Type.Integer({ minimum: 0 })),
  expired_at__gte: Type.Optional(DateBound),
  expired_at__lte: Type.Optional(DateBound),
  last_used_at__gte: Type.Optional(DateBound),
  last_used_at__lte: Type.Optional(DateBound),
});
export type EnrollmentKeyListQuery = Static<typeof EnrollmentKeyListQuery>;

// Agent face: POST /api/v1/agents/enrollment_keys/verify (edge-admin spec §6.4 step 2).

/** Open object: agents of other versions may send fields we do not know. */
export const VerifyEnrollmentKeyRequest = Type.Object({ key: Type.String() });
export type VerifyEnrollmentKeyRequest = Static<typeof VerifyEnrollmentKeyRequest>;

export type VerifyError = 'invalid_key' | 'key_expired' | 'key_spent' | 'node_limit_reached';

export const VerifyEnrollmentKeyResponse = Type.Object({
  data: Type.Object({
    verified: Type.Boolean(),
    error: Type.Union([
      Type.Literal(''),
      Type.Literal('invalid_key'),
      Type.Literal('key_expired'),
      Type.Literal('key_spent'),
      Type.Literal('node_limit_reached'),
    ]),
    /** VPN join token; always "" because Nodeplane is its own VPN controller. */
    netmaker_key: Type.String(),
    /**
     * Nodeplane addition (agents that do not know it ignore it): the key's cluster when verified,
     * else null. Upstream agents learn their network from `netmaker_key`; ours registers into
     * `cluster-<cluster_name>` instead.
     */
    cluster_name: Nullable(Type.String()),
  }),
});
export type VerifyEnrollmentKeyResponse = Static<typeof VerifyEnrollmentKeyResponse>;
