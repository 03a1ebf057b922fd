/**
 * The caller of a request, as every face's authenticator establishes it. Services that decide
 * something by who calls take a principal instead of a bare id, so every face (and every kind of
 * credential) reaches them through the same door. What a principal may do is `access.ts`.
 */

/** The node kinds that authenticate as themselves (the inventory holds every kind). */
export type NodeKind = 'edge-agent' | 'core' | 'mesh' | 'manager-edge' | 'manager-relay' | 'pasarguard';

/** Operator roles, lowest first (manager spec §5.2); a check is "role ≥ required". */
export const ROLES = ['viewer', 'operator', 'admin', 'super_admin'] as const;
export type Role = (typeof ROLES)[number];

/** One of the boot keys of the Admin API (MASTER_KEY, API_KEY, METRICS_KEY). */
export interface ApiKeyPrincipal {
  type: 'api-key';
  key: 'master' | 'api' | 'metrics';
}

/** How an operator proved who they are: a dashboard session (cookie) or a named API token (bearer). */
export type OperatorCredential = { kind: 'session'; sessionId: string; csrfToken: string } | { kind: 'token'; tokenId: string };

/** A person (or their automation) signed in with a role. */
export interface OperatorPrincipal {
  type: 'operator';
  /** The user's id. */
  id: string;
  username: string;
  /** The effective role: for a token, the lower of the token's and its owner's. */
  role: Role;
  /** Inventory ids this operator may touch; null = every node. */
  allowedNodeIds: readonly string[] | null;
  credential: OperatorCredential;
}

/** A node calling about itself; `id` is its inventory id. */
export interface NodePrincipal {
  type: 'node';
  id: string;
  kind: NodeKind;
}

export interface PublicPrincipal {
  type: 'public';
}

export type Principal = ApiKeyPrincipal | OperatorPrincipal | NodePrincipal | PublicPrincipal;

export const PUBLIC: PublicPrincipal = Object.freeze({ type: 'public' });
