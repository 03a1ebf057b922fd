/**
 * Agent-facing routes authenticate with the node's `api_token` (Bearer). Tokens are looked up by
 * their SHA-256 (NodeService.authenticate), never compared as secrets.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

/** Installs node-token auth on an agent route scope (onRequest: before validation, like the admin keys). */
export function installAgentAuth(app: FastifyInstance, authenticate: (token: string) => Promise<AgentIdentity | null>) {
  app.decorateRequest('agent', null);
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config?.agentAuth ?? 'token') === 'public') return;
    const token = bearerToken(request);
    const agent = token ? await authenticate(token) : null;
    if (!agent) return sendError(request, reply, 401, 'unauthorized', 'Unauthorized');
    request.agent = { nodeId: agent.nodeId, clusterId: agent.clusterId };
  });
}

/** The authenticated node of an agent route (the auth hook guarantees it). */
export const agentOf = (request: FastifyRequest): AgentIdentity => request.agent!;
