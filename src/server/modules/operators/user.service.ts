import type { Kysely, Updateable } from 'kysely';
import type { UserCreateRequest, UserInfo, UserListQuery, UserUpdateRequest } from '../../../contract/admin/operators.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { UserRow, UsersTable } from '../../db/tables/operators.ts';
import { AppError, ForbiddenError, NotFoundError } from '../../errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso, storedTimestamp } from '../../lib/time.ts';
import { hasRole, nodeScopeOf, roleOf, roleRank } from '../../access.ts';
import type { Principal, Role } from '../../principal.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { hashPassword } from './passwords.ts';
import { parseNodeIds, renderUser } from './render.ts';
import { sessionRepo } from './session.repo.ts';
import { userRepo } from './user.repo.ts';

type Db = Kysely<Database>;

/**
 * Operators as the Admin API manages them (manager spec §5.2). Who may do what: admins and above
 * manage users; nobody grants a role above their own (so only a super_admin touches super_admins);
 * a node-restricted caller manages only users within its own nodes; nobody deletes themselves.
 * Boot keys act with their role (MASTER_KEY = super_admin) and are nobody's "self".
 */
/** A new user row: active, never signed in, not locked. */
export function newUserRow(
  fields: Pick<UserRow, 'username' | 'display_name' | 'email' | 'role' | 'password_hash' | 'is_temporary' | 'expires_at' | 'allowed_node_ids'>,
  now = nowIso(),
): UserRow {
  return { id: uuidv7(), ...fields, is_active: 1, last_login_at: null, failed_logins: 0, locked_until: null, inserted_at: now, updated_at: now };
}

export class UserService {
  constructor(private readonly deps: { db: Db }) {}

  private get db() {
    return this.deps.db;
  }

  async list(query: UserListQuery): Promise<Page<UserInfo>> {
    const page = await userRepo.list(this.db, query);
    return { items: page.items.map(renderUser), pagination: page.pagination };
  }

  async all(): Promise<UserInfo[]> {
    return (await userRepo.all(this.db)).map(renderUser);
  }

  /** The signed-in operator; a boot key is nobody (404). */
  async me(caller: Principal): Promise<UserInfo> {
    if (caller.type !== 'operator') throw new NotFoundError('User');
    return renderUser(await this.require(caller.id));
  }

  /** Self, or an admin and above. */
  async get(caller: Principal, id: string): Promise<UserInfo> {
    const isSelf = caller.type === 'operator' && caller.id === id;
    if (!isSelf && !hasRole(caller, 'admin')) throw new NotFoundError('User');
    return renderUser(await this.require(id));
  }

  async create(caller: Principal, input: UserCreateRequest): Promise<UserInfo> {
    this.assertMayGrant(caller, input.role, input.allowed_node_ids ?? null);
    const expiresAt = futureTimestamp(input.expires_at ?? null);
    const passwordHash = await hashPassword(input.password);
    const row = newUserRow({
      username: input.username,
      display_name: input.display_name ?? input.username,
      email: input.email ?? null,
      role: input.role,
      password_hash: passwordHash,
      is_temporary: input.is_temporary ? 1 : 0,
      expires_at: expiresAt,
      allowed_node_ids: storedNodeIds(input.allowed_node_ids ?? null),
    });
    await userRepo.insert(this.db, row).catch(rethrowTaken);
    return renderUser(row);
  }

  /**
   * Changing the password, disabling or expiring the account ends its sessions; a role or node
   * change needs no revocation, since every request reads the user's current role and nodes.
   */
  async update(caller: Principal, id: string, input: UserUpdateRequest): Promise<UserInfo> {
    const target = await this.require(id);
    this.assertMayManage(caller, target);
    if (input.role !== undefined || input.allowed_node_ids !== undefined) {
      this.assertMayGrant(
        caller,
        input.role ?? (target.role as Role),
        input.allowed_node_ids !== undefined ? input.allowed_node_ids : parseNodeIds(target.allowed_node_ids),
      );
    }
    const changes: Updateable<UsersTable> = { updated_at: nowIso() };
    if (input.username !== undefined) changes.username = input.username;
    if (input.display_name !== undefined) changes.display_name = input.display_name;
    if (input.email !== undefined) changes.email = input.email;
    if (input.role !== undefined) changes.role = input.role;
    if (input.is_temporary !== undefined) changes.is_temporary = input.is_temporary ? 1 : 0;
    if (input.expires_at !== undefined) changes.expires_at = futureTimestamp(input.expires_at);
    if (input.allowed_node_ids !== undefined) changes.allowed_node_ids = storedNodeIds(input.allowed_node_ids);
    if (input.is_active !== undefined) changes.is_active = input.is_active ? 1 : 0;
    if (input.password !== undefined) {
      changes.password_hash = await hashPassword(input.password);
      // A new password is also how an admin unlocks an account.
      changes.failed_logins = 0;
      changes.locked_until = null;
    }
    const endsSessions = input.password !== undefined || input.is_active === false || (input.expires_at !== undefined && input.expires_at !== null);
    await this.db
      .transaction()
      .execute(async (trx) => {
        if (!(await userRepo.update(trx, id, changes))) throw new NotFoundError('User');
        if (endsSessions) await sessionRepo.revokeAllOf(trx, id, nowIso());
      })
      .catch(rethrowTaken);
    return renderUser(await this.require(id));
  }

  async delete(caller: Principal, id: string): Promise<void> {
    if (caller.type === 'operator' && caller.id === id) throw new AppError('bad_request', 'You cannot delete your own account');
    const target = await this.require(id);
    this.assertMayManage(caller, target);
    if (!(await userRepo.delete(this.db, id))) throw new NotFoundError('User');
  }

  /**
   * The command line's reset (whoever runs it owns the machine): a new password, the lockout
   * cleared and every session ended. False when there is no such username.
   */
  async resetPassword(username: string, password: string): Promise<boolean> {
    const user = await userRepo.findByUsername(this.db, username);
    if (!user) return false;
    const passwordHash = await hashPassword(password);
    await this.db.transaction().execute(async (trx) => {
      await userRepo.update(trx, user.id, { password_hash: passwordHash, failed_logins: 0, locked_until: null, updated_at: nowIso() });
      await sessionRepo.revokeAllOf(trx, user.id, nowIso());
    });
    return true;
  }

  private async require(id: string): Promise<UserRow> {
    const row = await userRepo.find(this.db, id);
    if (!row) throw new NotFoundError('User');
    return row;
  }

  /** Only callers at or above the target's role, and (when node-restricted) covering all its nodes. */
  private assertMayManage(caller: Principal, target: UserRow): void {
    if (!outranksOrEquals(caller, target.role as Role)) throw new ForbiddenError(`Only a ${target.role} or above may change a ${target.role}`);
    if (!withinScope(caller, parseNodeIds(target.allowed_node_ids))) throw new ForbiddenError('This user can reach nodes outside your own');
  }

  private assertMayGrant(caller: Principal, role: Role, nodeIds: readonly string[] | null): void {
    if (!outranksOrEquals(caller, role)) throw new ForbiddenError(`You cannot grant the ${role} role, which is above your own`);
    if (!withinScope(caller, nodeIds)) throw new ForbiddenError('You cannot grant access to nodes outside your own');
  }
}

function outranksOrEquals(caller: Principal, role: Role): boolean {
  const own = roleOf(caller);
  return own !== null && roleRank(own) >= roleRank(role);
}

/** A restricted caller may only hand out (or manage holders of) a subset of its own nodes. */
function withinScope(caller: Principal, nodeIds: readonly string[] | null): boolean {
  const scope = nodeScopeOf(caller);
  if (scope === null) return true;
  return nodeIds !== null && nodeIds.every((id) => scope.includes(id));
}

function storedNodeIds(ids: readonly string[] | null): string | null {
  return ids === null ? null : JSON.stringify(ids.map((id) => id.toLowerCase()));
}

function futureTimestamp(value: string | null): string | null {
  if (value === null) return null;
  const stored = storedTimestamp(value);
  if (stored <= nowIso()) throw new AppError('bad_request', 'expires_at must be in the future', { expires_at: ['must be in the future'] });
  return stored;
}
