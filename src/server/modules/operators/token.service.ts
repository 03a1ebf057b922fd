import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ApiToken, ApiTokenCreated, ApiTokenCreateRequest, ApiTokenListQuery } from '../../../contract/admin/operators.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { ApiTokenRow } from '../../db/tables/operators.ts';
import { AppError, ForbiddenError, NotFoundError } from '../../errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { tokenHash } from '../../lib/secrets.ts';
import { nowIso, storedTimestamp } from '../../lib/time.ts';
import { hasRole, roleRank } from '../../access.ts';
import type { OperatorPrincipal, Principal } from '../../principal.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { API_TOKEN_PREFIX } from './auth.service.ts';
import { renderToken } from './render.ts';
import { tokenRepo } from './token.repo.ts';

type Db = Kysely<Database>;

/** Enough of the token to tell tokens apart in a list (prefix + 8 of its 43 random characters). */
const SHOWN_PREFIX_LENGTH = API_TOKEN_PREFIX.length + 8;

/**
 * Named bearer tokens for automation. Each belongs to an operator and carries a role no higher
 * than its owner's (the lower of the two applies on every request); the secret is shown once and
 * stored as its SHA-256. Boot keys own no tokens: they are already bearer credentials.
 */
export class TokenService {
  constructor(private readonly deps: { db: Db }) {}

  async create(caller: Principal, input: ApiTokenCreateRequest): Promise<ApiTokenCreated> {
    const owner = operatorOf(caller);
    if (roleRank(input.role) > roleRank(owner.role)) throw new ForbiddenError(`A token cannot have a role above your own (${owner.role})`);
    let expiresAt: string | null = null;
    if (input.expires_at != null) {
      expiresAt = storedTimestamp(input.expires_at);
      if (expiresAt <= nowIso()) throw new AppError('bad_request', 'expires_at must be in the future', { expires_at: ['must be in the future'] });
    }
    const token = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row: ApiTokenRow = {
      id: uuidv7(),
      user_id: owner.id,
      name: input.name,
      role: input.role,
      token_hash: tokenHash(token),
      token_prefix: token.slice(0, SHOWN_PREFIX_LENGTH),
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      inserted_at: nowIso(),
    };
    await tokenRepo.insert(this.deps.db, row).catch(rethrowTaken);
    return { ...renderToken(row), token };
  }

  /** The caller's own tokens; admins and above may name another operator with `user_id`. */
  async list(caller: Principal, query: ApiTokenListQuery): Promise<Page<ApiToken>> {
    const owner = operatorOf(caller);
    const userId = query.user_id ?? owner.id;
    if (userId !== owner.id && !hasRole(caller, 'admin')) throw new ForbiddenError("Listing another operator's tokens requires the admin role");
    const page = await tokenRepo.list(this.deps.db, { ...query, user_id: userId });
    return { items: page.items.map(renderToken), pagination: page.pagination };
  }

  /** Owners revoke their own tokens; admins and above revoke anyone's. Revoking twice is a no-op. */
  async revoke(caller: Principal, id: string): Promise<void> {
    const owner = operatorOf(caller);
    const row = await tokenRepo.find(this.deps.db, id);
    if (!row || (row.user_id !== owner.id && !hasRole(caller, 'admin'))) throw new NotFoundError('API token');
    await tokenRepo.revoke(this.deps.db, id, nowIso());
  }
}

function operatorOf(caller: Principal): OperatorPrincipal {
  if (caller.type !== 'operator') {
    throw new AppError('bad_request', 'API tokens belong to operators; boot keys own none. Sign in as an operator (or use its token) to manage tokens.');
  }
  return caller;
}
