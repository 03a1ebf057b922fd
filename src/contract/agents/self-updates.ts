/** The agent's self-update pull route (edge-admin spec §10). */
import { Type, type Static } from 'typebox';
import { NullableTimestamp } from '../types.ts';

export const SelfUpdateCheck = Type.Object({
  /** Whether the newest request's targeting, with the forced filters, resolves to the caller. */
  including_me: Type.Boolean(),
  /** When the newest request was made; null when there is none. The agent decides if it applied it. */
  inserted_at: NullableTimestamp,
});
export type SelfUpdateCheck = Static<typeof SelfUpdateCheck>;
