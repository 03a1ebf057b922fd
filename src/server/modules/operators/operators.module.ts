/** Operators: users with roles, their sessions and API tokens, and sign-in. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { AuthService, type SessionPolicy } from './auth.service.ts';
import { TokenService } from './token.service.ts';
import { UserService } from './user.service.ts';

export interface OperatorServices {
  auth: AuthService;
  users: UserService;
  tokens: TokenService;
}

export interface OperatorsDeps {
  db: Kysely<Database>;
  /** Read on every login, so a changed setting applies to the next one. */
  policy: () => SessionPolicy;
}

export function operatorsModule(deps: OperatorsDeps): ModuleManifest<OperatorServices> {
  const auth = new AuthService(deps);
  return {
    services: { auth, users: new UserService(deps), tokens: new TokenService(deps) },
    schedules: [{ name: 'operators.prune-logins-and-sessions', scope: 'once-in-fleet', everyMs: 3_600_000, run: () => auth.prune() }],
  };
}
