/** Commands and command executions (edge-admin spec §3 rows 30–37, §8). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  CancelExecutionData,
  Command,
  CommandCreateRequest,
  CommandExecution,
  CommandExecutionListQuery,
  CommandListQuery,
  IdParams,
} from '../../../contract/admin/commands.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Commands'];
/** Running commands on nodes is an operator's job, not only an admin's (issue 13). */
const operator = { role: 'operator' as const };

export const commandRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/commands',
      {
        schema: {
          tags,
          summary: 'Create a command; its executions are created in the background',
          description: 'Answers 201 at once. A background job then creates one pending execution per targeted node and pushes it to connected agents.',
          body: CommandCreateRequest,
          response: { 201: Single(Command) },
        },
        config: operator,
      },
      async (req, reply) => {
        const command = await ctx.commands.create(req.principal, req.body);
        return created(req, reply, command, `/api/v1/commands/${command.id}`);
      },
    );

    app.get(
      '/commands',
      {
        schema: { tags, summary: 'List commands', querystring: CommandListQuery, response: { 200: Paged(Command) } },
      },
      async (req) => paged(req, await ctx.commands.list(req.principal, req.query)),
    );

    app.get(
      '/commands/:id',
      {
        schema: { tags, summary: 'Get a command', params: IdParams, response: { 200: Single(Command) } },
      },
      async (req) => ok(req, await ctx.commands.get(req.principal, req.params.id)),
    );

    app.delete(
      '/commands/:id',
      {
        schema: { tags, summary: 'Delete a command and its executions (none may be pending or sent)', params: IdParams, response: { 204: Type.Null() } },
        config: operator,
      },
      async (req, reply) => {
        await ctx.commands.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    app.get(
      '/command_executions',
      {
        schema: { tags, summary: 'List command executions', querystring: CommandExecutionListQuery, response: { 200: Paged(CommandExecution) } },
      },
      async (req) => paged(req, await ctx.commands.executions.list(req.principal, req.query)),
    );

    app.get(
      '/command_executions/:id',
      {
        schema: { tags, summary: 'Get a command execution', params: IdParams, response: { 200: Single(CommandExecution) } },
      },
      async (req) => ok(req, await ctx.commands.executions.get(req.principal, req.params.id)),
    );

    app.delete(
      '/command_executions/:id',
      {
        schema: { tags, summary: 'Delete a completed, cancelled or expired execution', params: IdParams, response: { 204: Type.Null() } },
        config: operator,
      },
      async (req, reply) => {
        await ctx.commands.executions.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    app.patch(
      '/command_executions/:id/cancel',
      {
        schema: {
          tags,
          summary: 'Cancel a pending execution, or ask the agent to stop a sent one',
          description:
            'pending → cancelled at once (`execution cancelled`). sent → the agent is asked over its live channel to kill it (`cancellation request sent`); it reports the real outcome (exit 143 → cancelled). 503 when the agent holds no live channel to this instance.',
          params: IdParams,
          response: { 200: Single(CancelExecutionData) },
        },
        config: operator,
      },
      async (req) => ok(req, await ctx.commands.executions.cancel(req.principal, req.params.id)),
    );
  };
