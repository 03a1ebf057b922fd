/** Agent registration, the health fallback and agent-declared aliases (edge-admin spec §6.4–6.5). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AgentAlias, AgentAliasRequest } from '../../../contract/agents/aliases.ts';
import { HealthCheckRequest, Registration, RegistrationRequest } from '../../../contract/agents/nodes.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, ok } from '../admin/http.ts';
import { nodeOf, readToken } from '../face-kit.ts';
import { publicRateLimit } from '../../http/rate-limit.ts';

const tags = ['Agents'];

export const agentNodesRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/nodes',
      {
        schema: {
          tags,
          summary: 'Register (or re-register) an edge agent with a join ticket or its current api_token',
          body: RegistrationRequest,
          response: { 201: Single(Registration) },
        },
        bodyLimit: ctx.config.publicBodyLimitBytes,
        config: { auth: 'public', degradedGate: true, rateLimit: publicRateLimit(ctx.config) },
      },
      async (req, reply) => created(req, reply, await ctx.nodes.register(req.body, readToken(req))),
    );

    app.patch(
      '/nodes/me/health_check',
      {
        schema: { tags, summary: "Report the calling node's health", body: HealthCheckRequest, response: { 200: Single(Registration) } },
      },
      async (req) => ok(req, await ctx.nodes.reportHealth(nodeOf(req).id, req.body.status)),
    );

    app.post(
      '/aliases',
      {
        schema: { tags, summary: 'Create an alias for the calling node', body: AgentAliasRequest, response: { 201: Single(AgentAlias) } },
      },
      async (req, reply) => {
        const alias = await ctx.aliases.create(req.principal, nodeOf(req).id, req.body.name);
        return created(req, reply, { id: alias.id, name: alias.name, node_id: alias.node_id });
      },
    );
  };
