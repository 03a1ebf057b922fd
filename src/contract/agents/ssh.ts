/** The agent's SSH credential check (edge-admin spec §9.2). */
import { Type, type Static } from 'typebox';
import { Nullable } from '../types.ts';

/**
 * Exactly one of `password` and `public_key` (the service answers 422 on `base` otherwise; null
 * counts as absent). Lengths are capped far above anything that can match, so no caller can make
 * the server hash megabytes.
 */
export const VerifyCredentialsRequest = Type.Object({
  username: Type.String({ maxLength: 255 }),
  password: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
  public_key: Type.Optional(Nullable(Type.String({ maxLength: 16384 }))),
});
export type VerifyCredentialsRequest = Static<typeof VerifyCredentialsRequest>;

export const VerifyCredentialsResult = Type.Object({ verified: Type.Boolean() });
export type VerifyCredentialsResult = Static<typeof VerifyCredentialsResult>;
