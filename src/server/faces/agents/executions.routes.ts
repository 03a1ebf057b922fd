/** Executions for agents that poll (edge-admin spec §6.5); connected agents get them pushed. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams } from '../../../contract/admin/commands.ts';
import { AcknowledgeRequest, AgentCommandExecution, AgentExecutionListQuery, ExecutionResultRequest } from '../../../contract/agents/executions.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok, paged } from '../admin/http.ts';
import { nodeOf } from '../face-kit.ts';

const tags = ['Agents'];

export const agentExecutionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/command_executions',
      {
        schema: {
          tags,
          summary: "The calling node's executions of one status (oldest first, 100 per page)",
          querystring: AgentExecutionListQuery,
          response: { 200: Paged(AgentCommandExecution) },
        },
      },
      async (req) => paged(req, await ctx.commands.executions.listForNode(nodeOf(req), req.query)),
    );

    app.patch(
      '/command_executions/:id/acknowledge',
      {
        schema: {
          tags,
          summary: 'Claim a pending execution (pending → sent); run it only if this succeeds',
          description: 'Exactly one claim succeeds; any other gets 409. No body is needed.',
          params: IdParams,
          body: AcknowledgeRequest,
          response: { 200: Single(AgentCommandExecution) },
        },
      },
      async (req) => ok(req, await ctx.commands.executions.acknowledge(nodeOf(req), req.params.id)),
    );

    app.patch(
      '/command_executions/:id/result',
      {
        schema: {
          tags,
          summary: "Report an execution's result",
          description:
            'exit_code 143 → cancelled; status expired → expired; else completed. Resending a result already recorded answers 200 and changes nothing.',
          params: IdParams,
          body: ExecutionResultRequest,
          response: { 200: Single(AgentCommandExecution) },
        },
      },
      async (req) => ok(req, await ctx.commands.executions.reportResult(nodeOf(req), req.params.id, req.body)),
    );
  };
