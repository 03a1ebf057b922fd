/**
 * The Edge agent face (`/api/v1/agents`, edge-admin spec §6): the Admin API's envelopes and error
 * format, but the caller is a node, authenticated by its `api_token` (Bearer). Tokens are looked up
 * by their SHA-256 (NodeService.authenticate), never compared as secrets. A sibling of the Admin
 * API face under the same prefix, so the boot keys never apply here and node tokens never there.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.ts';
import { AppError } from '../../errors.ts';
import { installAuthenticator, installFace, readToken } from '../face-kit.ts';
import { adminErrors, installDegradedGate } from '../admin/http.ts';
import { agentEnrollmentRoutes } from './enrollment.routes.ts';
import { agentNodesRoutes } from './nodes.routes.ts';
import { agentMetricsRoutes } from './metrics.routes.ts';
import { agentStreamRoutes } from './stream.routes.ts';
import { agentExecutionRoutes } from './executions.routes.ts';
import { agentSshRoutes } from './ssh.routes.ts';
import { agentSelfUpdateRoutes } from './self-updates.routes.ts';

export const agentsFace =
  (ctx: AppContext): FastifyPluginAsync =>
  async (agents) => {
    installFace(agents, adminErrors);
    installAuthenticator(
      agents,
      async (request) => {
        const token = readToken(request);
        const session = token ? await ctx.nodes.authenticate(token) : null;
        return session && { type: 'node', id: session.nodeId, kind: 'edge-agent' };
      },
      () => new AppError('unauthorized', 'Unauthorized'),
    );
    installDegradedGate(agents, () => ctx.instances.isDegraded());
    await agents.register(agentEnrollmentRoutes(ctx));
    await agents.register(agentNodesRoutes(ctx));
    await agents.register(agentMetricsRoutes(ctx));
    await agents.register(agentStreamRoutes(ctx));
    await agents.register(agentExecutionRoutes(ctx));
    await agents.register(agentSshRoutes(ctx));
    await agents.register(agentSelfUpdateRoutes(ctx));
  };
