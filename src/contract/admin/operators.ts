/** Operators, their sessions and API tokens (manager spec §5.1–5.2; Nodeplane's API tokens). */
import { Type, type Static } from 'typebox';
import { ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';

export const OperatorRole = Type.Enum(['viewer', 'operator', 'admin', 'super_admin']);
export type OperatorRole = Static<typeof OperatorRole>;

/** The spec's UserInfo; never carries a hash. */
export const UserInfo = Type.Object({
  id: Uuid,
  username: Type.String(),
  display_name: Type.String(),
  email: Nullable(Type.String()),
  role: OperatorRole,
  is_temporary: Type.Boolean(),
  expires_at: NullableTimestamp,
  allowed_node_ids: Nullable(Type.Array(Uuid)),
  is_active: Type.Boolean(),
  last_login_at: NullableTimestamp,
});
export type UserInfo = Static<typeof UserInfo>;

export const USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const Username = Type.String({ minLength: 1, maxLength: 64, pattern: USERNAME_PATTERN });
const Password = Type.String({ minLength: 8, maxLength: 128 });
const DisplayName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\x00-\\x1F\\x7F]+$' });
const Email = Type.String({ maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$' });
/** null = every node; otherwise only these inventory ids. */
const AllowedNodeIds = Nullable(Type.Array(Uuid, { maxItems: 1000, uniqueItems: true }));

export const UserCreateRequest = Type.Object(
  {
    username: Username,
    password: Password,
    display_name: Type.Optional(DisplayName),
    email: Type.Optional(Nullable(Email)),
    role: OperatorRole,
    is_temporary: Type.Optional(Type.Boolean()),
    expires_at: Type.Optional(NullableTimestamp),
    allowed_node_ids: Type.Optional(AllowedNodeIds),
  },
  { additionalProperties: false },
);
export type UserCreateRequest = Static<typeof UserCreateRequest>;

export const UserUpdateRequest = Type.Object(
  {
    username: Type.Optional(Username),
    password: Type.Optional(Password),
    display_name: Type.Optional(DisplayName),
    email: Type.Optional(Nullable(Email)),
    role: Type.Optional(OperatorRole),
    is_temporary: Type.Optional(Type.Boolean()),
    expires_at: Type.Optional(NullableTimestamp),
    allowed_node_ids: Type.Optional(AllowedNodeIds),
    is_active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type UserUpdateRequest = Static<typeof UserUpdateRequest>;

export const UserIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const UserListQuery = ListQuery({
  username: Type.Optional(Type.String({ maxLength: 64 })),
  role: Type.Optional(Type.String({ maxLength: 64 })),
});
export type UserListQuery = Static<typeof UserListQuery>;

// ── login ──────────────────────────────────────────────────────────────────────────────────────

/** Lengths are checked by the service (spec: over-long values are a 400 "Invalid credentials" in the login shape). */
export const LoginRequest = Type.Object(
  { username: Type.String({ maxLength: 4096 }), password: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginFormRequest = Type.Object(
  {
    username: Type.String({ maxLength: 4096 }),
    password: Type.String({ maxLength: 4096 }),
    /** Where to go after signing in: a path on this server (`/…`, not `//…`). */
    next: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type LoginFormRequest = Static<typeof LoginFormRequest>;

/** The spec's login body, the same shape on every outcome. */
export const LoginResponse = Type.Object({
  success: Type.Boolean(),
  csrf_token: Nullable(Type.String()),
  user: Nullable(UserInfo),
  error: Nullable(Type.String()),
});
export type LoginResponse = Static<typeof LoginResponse>;

/** Logout takes no fields; an empty body (or none) is fine. */
export const LogoutRequest = Nullable(Type.Object({}, { additionalProperties: false }));

export const LogoutResponse = Type.Object({ success: Type.Boolean() });

// ── API tokens ─────────────────────────────────────────────────────────────────────────────────

export const ApiToken = Type.Object({
  id: Uuid,
  user_id: Uuid,
  name: Type.String(),
  role: OperatorRole,
  /** The token's first characters, to tell tokens apart; never the secret. */
  token_prefix: Type.String(),
  expires_at: NullableTimestamp,
  last_used_at: NullableTimestamp,
  revoked_at: NullableTimestamp,
  inserted_at: Timestamp,
});
export type ApiToken = Static<typeof ApiToken>;

/** Returned once, at creation: the only time the secret is shown. */
export const ApiTokenCreated = Type.Object({ ...ApiToken.properties, token: Type.String() });
export type ApiTokenCreated = Static<typeof ApiTokenCreated>;

export const ApiTokenCreateRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\x00-\\x1F\\x7F]+$' }),
    role: OperatorRole,
    expires_at: Type.Optional(NullableTimestamp),
  },
  { additionalProperties: false },
);
export type ApiTokenCreateRequest = Static<typeof ApiTokenCreateRequest>;

export const ApiTokenIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const ApiTokenListQuery = ListQuery({
  /** Another operator's tokens (admin and above). */
  user_id: Type.Optional(Uuid),
});
export type ApiTokenListQuery = Static<typeof ApiTokenListQuery>;
