import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { UserCreateRequest, UserIdParams, UserInfo, UserListQuery, UserUpdateRequest } from '../../../contract/admin/operators.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Users'];

/** Operators (manager spec §5.2). Admins and above manage them; the service holds the finer rules. */
export const usersRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users',
      { schema: { tags, summary: 'List operators', querystring: UserListQuery, response: { 200: Paged(UserInfo) } }, config: { role: 'admin' } },
      async (req) => paged(req, await ctx.operators.users.list(req.query)),
    );

    app.post(
      '/users',
      {
        schema: {
          tags,
          summary: 'Create an operator (a role no higher than your own; node-restricted callers grant only their nodes)',
          body: UserCreateRequest,
          response: { 201: Single(UserInfo) },
        },
      },
      async (req, reply) => {
        const user = await ctx.operators.users.create(req.principal, req.body);
        return created(req, reply, user, `/api/v1/users/${user.id}`);
      },
    );

    app.get(
      '/users/:id',
      {
        schema: { tags, summary: 'Get an operator (yourself, or anyone as an admin)', params: UserIdParams, response: { 200: Single(UserInfo) } },
        config: { role: 'viewer' },
      },
      async (req) => ok(req, await ctx.operators.users.get(req.principal, req.params.id)),
    );

    app.put(
      '/users/:id',
      {
        schema: {
          tags,
          summary: 'Change an operator (a new password, disabling or expiring ends their sessions)',
          params: UserIdParams,
          body: UserUpdateRequest,
          response: { 200: Single(UserInfo) },
        },
      },
      async (req) => ok(req, await ctx.operators.users.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/users/:id',
      {
        schema: { tags, summary: 'Delete an operator (not yourself); their sessions and tokens go too', params: UserIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.operators.users.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
