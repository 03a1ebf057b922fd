/** Self-update requests of the Admin API (edge-admin spec §3 rows 46–49, §10). */
import { Type, type Static } from 'typebox';
import { ListQuery, Nullable, Timestamp, Uuid } from '../types.ts';
import { Targeting } from './targeting.ts';

export const SelfUpdateStatus = Type.Enum(['pending', 'processing', 'completed']);
export type SelfUpdateStatus = Static<typeof SelfUpdateStatus>;

export const SelfUpdateRequestCreateRequest = Type.Object({ targeting: Targeting }, { additionalProperties: false });
export type SelfUpdateRequestCreateRequest = Static<typeof SelfUpdateRequestCreateRequest>;

export const SelfUpdateSummary = Type.Object({
  total: Type.Integer(),
  triggered: Type.Integer(),
  failed: Type.Integer(),
});
export type SelfUpdateSummary = Static<typeof SelfUpdateSummary>;

export const SelfUpdateRequest = Type.Object({
  id: Uuid,
  targeting: Targeting,
  status: Type.String(),
  /** Null until the request completes. */
  summary: Nullable(SelfUpdateSummary),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type SelfUpdateRequest = Static<typeof SelfUpdateRequest>;

export const SelfUpdateRequestIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const SelfUpdateRequestListQuery = ListQuery({
  status: Type.Optional(SelfUpdateStatus),
});
export type SelfUpdateRequestListQuery = Static<typeof SelfUpdateRequestListQuery>;
