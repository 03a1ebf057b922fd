import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { UserInfo } from '../../../contract/admin/operators.ts';
import type { Database } from '../../db/schema.ts';
import { uniqueViolationColumns } from '../../db/dialect.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { tokenHash } from '../../lib/secrets.ts';
import type { OperatorPrincipal, Principal, Role } from '../../principal.ts';
import { AppError } from '../../errors.ts';
import { roleRank } from '../../access.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { loginAttemptRepo } from './login-attempt.repo.ts';
import { parseNodeIds, renderUser } from './render.ts';
import { sessionRepo } from './session.repo.ts';
import { type TokenWithUser, tokenRepo } from './token.repo.ts';
import { userRepo } from './user.repo.ts';
import { newUserRow } from './user.service.ts';

type Db = Kysely<Database>;

/** Settings that shape sign-in (manager spec §5.5 `session_lifetime_hours`, `max_login_attempts`). */
export interface SessionPolicy {
  sessionLifetimeHours: number;
  maxLoginAttempts: number;
}

export interface AuthDeps {
  db: Db;
  policy: () => SessionPolicy;
  now?: () => number;
}

/** The login rate limit (manager spec §5.1): 5 attempts per client address per fixed 60 s window. */
export const LOGIN_WINDOW_MS = 60_000;
export const LOGIN_ATTEMPTS_PER_WINDOW = 5;
/** How long an account stays locked after `maxLoginAttempts` consecutive failures. */
export const LOCKOUT_MS = 15 * 60_000;
/** `last_seen_at` / `last_used_at` move at most this often per session or token. */
const TOUCH_EVERY_MS = 60_000;
/** Revoked sessions are kept this long (an audit trail can still name them), then pruned. */
const REVOKED_KEPT_MS = 7 * 86_400_000;

/** Bearer tokens of operators start with this, so boot keys and node tokens never reach the database. */
export const API_TOKEN_PREFIX = 'npt_';

export type LoginOutcome =
  | { ok: true; user: UserInfo; principal: OperatorPrincipal; sessionToken: string; csrfToken: string; maxAgeSeconds: number }
  | { ok: false; reason: 'malformed' | 'rate_limited' | 'invalid' | 'disabled' | 'expired' };

export interface LoginInput {
  username: string;
  password: string;
  ip: string;
  userAgent: string | null;
}

/**
 * Signing in and proving it on later requests: login (rate limit, lockout, sessions), logout, and
 * turning a session cookie or an API token into an operator principal. Sessions are opaque random
 * tokens whose SHA-256 is a row in the database, so they are revocable, survive restarts and are
 * valid on every instance.
 */
export class AuthService {
  private readonly db: Db;
  private readonly now: () => number;

  constructor(private readonly deps: AuthDeps) {
    this.db = deps.db;
    this.now = deps.now ?? Date.now;
  }

  async login(input: LoginInput): Promise<LoginOutcome> {
    if (input.username.length > 64 || input.password.length > 128) return { ok: false, reason: 'malformed' };
    const now = this.now();
    const attempts = await loginAttemptRepo.hit(this.db, input.ip, iso(now), iso(now - LOGIN_WINDOW_MS));
    if (attempts > LOGIN_ATTEMPTS_PER_WINDOW) return { ok: false, reason: 'rate_limited' };

    const user = await userRepo.findByUsername(this.db, input.username);
    const verified = await verifyPassword(user?.password_hash ?? null, input.password);
    if (!user) return { ok: false, reason: 'invalid' };
    // A locked account answers like a wrong password, so a lockout does not confirm the username.
    if (user.locked_until !== null && user.locked_until > iso(now)) return { ok: false, reason: 'invalid' };
    if (!verified) {
      const failures = await userRepo.countFailure(this.db, user.id);
      if (failures >= this.deps.policy().maxLoginAttempts) {
        await userRepo.update(this.db, user.id, { failed_logins: 0, locked_until: iso(now + LOCKOUT_MS) });
      }
      return { ok: false, reason: 'invalid' };
    }
    if (user.is_active !== 1) return { ok: false, reason: 'disabled' };
    if (user.expires_at !== null && user.expires_at <= iso(now)) return { ok: false, reason: 'expired' };

    const lifetimeMs = this.deps.policy().sessionLifetimeHours * 3_600_000;
    const sessionToken = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(16).toString('hex');
    const sessionId = uuidv7(now);
    await this.db.transaction().execute(async (trx) => {
      await userRepo.update(trx, user.id, { failed_logins: 0, locked_until: null, last_login_at: iso(now) });
      await sessionRepo.insert(trx, {
        id: sessionId,
        user_id: user.id,
        token_hash: tokenHash(sessionToken),
        csrf_token: csrfToken,
        ip: input.ip,
        user_agent: input.userAgent?.slice(0, 512) ?? null,
        inserted_at: iso(now),
        last_seen_at: iso(now),
        expires_at: iso(now + lifetimeMs),
        revoked_at: null,
      });
    });
    return {
      ok: true,
      user: renderUser({ ...user, last_login_at: iso(now) }),
      principal: {
        type: 'operator',
        id: user.id,
        username: user.username,
        role: user.role as Role,
        allowedNodeIds: parseNodeIds(user.allowed_node_ids),
        credential: { kind: 'session', sessionId, csrfToken },
      },
      sessionToken,
      csrfToken,
      maxAgeSeconds: Math.floor(lifetimeMs / 1000),
    };
  }

  /** Ends the caller's dashboard session; bearer credentials have no session to end. */
  async logout(caller: Principal): Promise<void> {
    if (caller.type !== 'operator' || caller.credential.kind !== 'session') {
      throw new AppError('bad_request', 'Logout ends a session cookie; this request has none (revoke an API token with DELETE /api/v1/tokens/{id})');
    }
    await sessionRepo.revoke(this.db, caller.credential.sessionId, iso(this.now()));
  }

  /** The operator behind a session cookie, or null when it is unknown, revoked, expired, or its user may not sign in. */
  async authenticateSession(cookie: string): Promise<OperatorPrincipal | null> {
    const found = await sessionRepo.findByTokenHash(this.db, tokenHash(cookie));
    if (!found) return null;
    const { session, user } = found;
    const now = this.now();
    if (session.revoked_at !== null || session.expires_at <= iso(now) || !userMaySignIn(user, now)) return null;
    if (session.last_seen_at < iso(now - TOUCH_EVERY_MS)) await sessionRepo.touch(this.db, session.id, iso(now), iso(now - TOUCH_EVERY_MS));
    return {
      type: 'operator',
      id: user.id,
      username: user.username,
      // Read from the user on every request: a role change applies at once to live sessions.
      role: user.role as Role,
      allowedNodeIds: parseNodeIds(user.allowed_node_ids),
      credential: { kind: 'session', sessionId: session.id, csrfToken: session.csrf_token },
    };
  }

  /** The operator behind an API token (`npt_…`), acting with the lower of the token's and the owner's role. */
  async authenticateToken(token: string): Promise<OperatorPrincipal | null> {
    if (!token.startsWith(API_TOKEN_PREFIX)) return null;
    const found: TokenWithUser | undefined = await tokenRepo.findByTokenHash(this.db, tokenHash(token));
    if (!found) return null;
    const { token: row, user } = found;
    const now = this.now();
    if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= iso(now)) || !userMaySignIn(user, now)) return null;
    if (row.last_used_at === null || row.last_used_at < iso(now - TOUCH_EVERY_MS)) {
      await tokenRepo.touch(this.db, row.id, iso(now), iso(now - TOUCH_EVERY_MS));
    }
    const role = roleRank(row.role as Role) < roleRank(user.role as Role) ? (row.role as Role) : (user.role as Role);
    return {
      type: 'operator',
      id: user.id,
      username: user.username,
      role,
      allowedNodeIds: parseNodeIds(user.allowed_node_ids),
      credential: { kind: 'token', tokenId: row.id },
    };
  }

  /**
   * The first operator, on a database without any: a super_admin. Returns whether this call made
   * it; when two instances start at once the unique username lets exactly one win.
   */
  async ensureFirstOperator(username: string, password: string): Promise<boolean> {
    if (await userRepo.any(this.db)) return false;
    const passwordHash = await hashPassword(password);
    try {
      await userRepo.insert(
        this.db,
        newUserRow(
          {
            username,
            display_name: username,
            email: null,
            role: 'super_admin',
            password_hash: passwordHash,
            is_temporary: 0,
            expires_at: null,
            allowed_node_ids: null,
          },
          iso(this.now()),
        ),
      );
      return true;
    } catch (error) {
      if (uniqueViolationColumns(error)) return false;
      throw error;
    }
  }

  /** Forgets login windows that are over and sessions that can no longer be used. */
  async prune(): Promise<void> {
    const now = this.now();
    await loginAttemptRepo.prune(this.db, iso(now - LOGIN_WINDOW_MS));
    await sessionRepo.prune(this.db, iso(now), iso(now - REVOKED_KEPT_MS));
  }
}

function userMaySignIn(user: { is_active: number; expires_at: string | null }, now: number): boolean {
  return user.is_active === 1 && (user.expires_at === null || user.expires_at > iso(now));
}

const iso = (ms: number): string => new Date(ms).toISOString();
