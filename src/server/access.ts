/**
 * What a principal may do: its role (boot keys map onto roles) and the nodes it may touch. Faces
 * gate routes by role; services that read or write node-scoped data narrow by `nodeScopeOf` and
 * refuse with `assertNodeAccess`, so a restricted operator meets the same rule on every face.
 */
import { ForbiddenError, NotFoundError } from './errors.ts';
import { type Principal, type Role, ROLES } from './principal.ts';

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/**
 * The role a principal acts with, or null when it has none (nodes, the public). MASTER_KEY is a
 * super_admin; API_KEY is the edge-admin spec's full Admin API key, an admin (it manages nodes,
 * not operators); METRICS_KEY only reads.
 */
export function roleOf(principal: Principal): Role | null {
  switch (principal.type) {
    case 'operator':
      return principal.role;
    case 'api-key':
      return principal.key === 'master' ? 'super_admin' : principal.key === 'api' ? 'admin' : 'viewer';
    default:
      return null;
  }
}

export function hasRole(principal: Principal, required: Role): boolean {
  const role = roleOf(principal);
  return role !== null && roleRank(role) >= roleRank(required);
}

export function assertRole(principal: Principal, required: Role): void {
  if (!hasRole(principal, required)) throw new ForbiddenError(`This requires the ${required} role`);
}

/** The inventory ids the principal may touch; null = every node. */
export function nodeScopeOf(principal: Principal): readonly string[] | null {
  return principal.type === 'operator' ? principal.allowedNodeIds : null;
}

export function canTouchNode(principal: Principal, nodeId: string): boolean {
  const scope = nodeScopeOf(principal);
  return scope === null || scope.includes(nodeId);
}

/**
 * A node outside the caller's scope does not exist for them: 404, not 403, so a restricted
 * operator cannot probe which ids are real.
 */
export function assertNodeAccess(principal: Principal, nodeId: string, what = 'Node'): void {
  if (!canTouchNode(principal, nodeId)) throw new NotFoundError(what);
}
