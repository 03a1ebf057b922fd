/** Admin API: VPN users (`/api/v1/vpn/users`), the owners of subscriptions (specs/core-node.md §1.1). */
import { Type, type Static } from 'typebox';
import { ListQuery, Nullable, Timestamp } from '../types.ts';

export const VpnUserStatus = Type.Enum(['active', 'disabled']);

/** Integer ids: the Core wire format carries userId, subscriptionId and nodeProtocolId as numbers. */
export const IntId = Type.Integer({ minimum: 1 });
export const IntIdParams = Type.Object({ id: IntId }, { additionalProperties: false });

export const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@+-]+$' });
const Email = Type.String({ format: 'email', maxLength: 254 });
const TelegramId = Type.String({ pattern: '^[0-9]{1,20}$' });

export const VpnUser = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  email: Nullable(Type.String()),
  telegram_id: Nullable(Type.String()),
  status: Type.String(),
  subscription_count: Type.Integer(),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type VpnUser = Static<typeof VpnUser>;

export const VpnUserCreateRequest = Type.Object(
  {
    username: Username,
    email: Type.Optional(Nullable(Email)),
    telegram_id: Type.Optional(Nullable(TelegramId)),
    status: Type.Optional(VpnUserStatus),
  },
  { additionalProperties: false },
);
export type VpnUserCreateRequest = Static<typeof VpnUserCreateRequest>;

/** Absent = unchanged, null = cleared. */
export const VpnUserUpdateRequest = Type.Object(
  {
    username: Type.Optional(Username),
    email: Type.Optional(Nullable(Email)),
    telegram_id: Type.Optional(Nullable(TelegramId)),
    status: Type.Optional(VpnUserStatus),
  },
  { additionalProperties: false },
);
export type VpnUserUpdateRequest = Static<typeof VpnUserUpdateRequest>;

const StringFilter = Type.String({ maxLength: 500 });

export const VpnUserListQuery = ListQuery({
  username: Type.Optional(StringFilter),
  email: Type.Optional(StringFilter),
  telegram_id: Type.Optional(StringFilter),
  status: Type.Optional(StringFilter),
});
export type VpnUserListQuery = Static<typeof VpnUserListQuery>;
