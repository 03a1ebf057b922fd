/** The audit log (manager spec §6 audit actions; Nodeplane records every Admin API write and login). */
import { Type, type Static } from 'typebox';
import { DateBound, Nullable, Timestamp } from '../types.ts';

export const AuditActorType = Type.Enum(['operator', 'token', 'api-key', 'node', 'public']);
export type AuditActorType = Static<typeof AuditActorType>;

export const AuditRecord = Type.Object({
  id: Type.String(),
  at: Timestamp,
  actor_type: AuditActorType,
  /** User id for operators and their tokens, the boot key's name, a node's id; null for the public. */
  actor_id: Nullable(Type.String()),
  actor_name: Nullable(Type.String()),
  action: Type.String(),
  target_type: Nullable(Type.String()),
  target_id: Nullable(Type.String()),
  /** Empty for an `auth.refusals_aggregated` row, which stands for many calls. */
  method: Type.String(),
  path: Type.String(),
  /** The HTTP status the call was answered with: refused calls are recorded too (0 for an aggregate). */
  status: Type.Integer(),
  ip: Nullable(Type.String()),
  /**
   * Per action: the attempted username of a failed login, the saved settings, the operator's
   * session or token id; for `auth.refusals_aggregated`, `{refusals, actions: {action: count},
   * first_at, last_at}` of the address's refusals not recorded one by one.
   */
  details: Nullable(Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true }))),
});
export type AuditRecord = Static<typeof AuditRecord>;

const Text = Type.Optional(Type.String({ minLength: 1, maxLength: 256 }));

/** Filters are exact; `action` also takes `*` wildcards and comma lists (`auth.*`, `user.create,user.delete`). */
export const AuditListQuery = Type.Object(
  {
    actor_id: Text,
    actor_type: Type.Optional(AuditActorType),
    action: Text,
    target_type: Text,
    target_id: Text,
    /** Inclusive bounds on `at`; a bare date covers its whole UTC day. */
    from: Type.Optional(DateBound),
    to: Type.Optional(DateBound),
    page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    /** The manager spec's name for the page size; `page_size` (the Admin API's) is accepted too. */
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type AuditListQuery = Static<typeof AuditListQuery>;
