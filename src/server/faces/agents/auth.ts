/**
 * Agent-facing routes authenticate with the node's `api_token` (Bearer). The token is looked up by
 * its SHA-256, so the comparison happens inside an index lookup on a digest, never on the secret.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { tokenHash } from '../../lib/secrets.ts';
import { sendError } from '../admin/http.ts';

export interface AgentIdentity {
  nodeId: string;
  clusterId: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent: AgentIdentity | null;
  }
  interface FastifyContextConfig {
    /** Agent routes: `token` needs the node's api_token, `public` needs nothing. */
    agentAuth?: 'token' | 'public';
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([^\s,]+)$/.exec(header);
  return match ? match[1]! : null;
}

export async function findAgentByToken(db: Kysely<Database>, token: string): Promise<AgentIdentity | null> {
  const row = await db
    .selectFrom('edge_nodes')
    .innerJoin('nodes', 'nodes.id', 'edge_nodes.node_id')
    .select(['nodes.id', 'nodes.cluster_id'])
    .where('edge_nodes.api_token_hash', '=', tokenHash(token))
    .executeTakeFirst();
  return row ? { nodeId: row.id, clusterId: row.cluster_id } : null;
}

/** Installs node-token auth on an agent route scope (onRequest: before validation, like the admin keys). */
export function installAgentAuth(app: FastifyInstance, db: Kysely<Database>) {
  app.decorateRequest('agent', null);
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config?.agentAuth ?? 'token') === 'public') return;
    const token = bearerToken(request);
    const agent = token ? await findAgentByToken(db, token) : null;
    if (!agent) return sendError(request, reply, 401, 'unauthorized', 'Unauthorized');
    request.agent = agent;
  });
}

/** The authenticated node of an agent route (the auth hook guarantees it). */
export const agentOf = (request: FastifyRequest): AgentIdentity => request.agent!;
