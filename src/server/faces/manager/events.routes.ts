/** The manager's events (manager spec §5.4), narrowed to the caller's nodes. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ManagerEvent, ManagerEventCount, ManagerEventIdParams, ManagerEventListQuery } from '../../../contract/manager/events.ts';
import { ManagerError } from '../../../contract/manager/nodes.ts';
import { EmptyBody } from '../../../contract/manager/operators.ts';
import type { AppContext } from '../../context.ts';

const tags = ['Manager events'];
const errors = { 400: ManagerError, 401: ManagerError, 403: ManagerError, 404: ManagerError };

export const managerEventRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const events = ctx.manager.events;

    app.get(
      '/events',
      {
        schema: {
          tags,
          summary: 'List events, newest first (filters; `search` matches message, category, node id or severity)',
          querystring: ManagerEventListQuery,
          response: { 200: Type.Array(ManagerEvent), ...errors },
        },
        config: { role: 'viewer' },
      },
      async (req) => events.list(req.principal, req.query),
    );

    app.get(
      '/events/count',
      { schema: { tags, summary: 'How many events are unacknowledged', response: { 200: ManagerEventCount, ...errors } }, config: { role: 'viewer' } },
      async (req) => events.countUnacknowledged(req.principal),
    );

    app.post(
      '/events/:id/ack',
      {
        schema: { tags, summary: 'Acknowledge an event (recorded with your user id)', params: ManagerEventIdParams, response: { 200: EmptyBody, ...errors } },
        config: { role: 'operator' },
      },
      async (req, reply) => {
        await events.acknowledge(req.principal, req.params.id);
        return reply.code(200).send(undefined);
      },
    );
  };
