/**
 * The caller of a request, as every face's authenticator establishes it. Services that decide
 * something by who calls take a principal instead of a bare id, so the next face (or operators
 * with roles) reaches them through the same door.
 */

/** The node kinds that authenticate as themselves (the inventory holds every kind). */
export type NodeKind = 'edge-agent' | 'core' | 'mesh' | 'manager-edge' | 'manager-relay' | 'pasarguard';

/** One of the boot keys of the Admin API (MASTER_KEY, API_KEY, METRICS_KEY). */
export interface ApiKeyPrincipal {
  type: 'api-key';
  key: 'master' | 'api' | 'metrics';
}

/** A person signed in to the dashboard or the Admin API (operators land in the next milestone). */
export interface OperatorPrincipal {
  type: 'operator';
  id: string;
  role: string;
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
