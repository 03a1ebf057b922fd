import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiToken, ApiTokenCreated, ApiTokenCreateRequest, ApiTokenIdParams, ApiTokenListQuery } from '../../../contract/admin/operators.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, paged } from './http.ts';

const tags = ['API tokens'];

/** Operators' own bearer tokens for automation: any role manages its own, admins anyone's. */
export const tokensRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/tokens',
      {
        schema: {
          tags,
          summary: 'Create an API token (role at most your own); the token is in this response only',
          body: ApiTokenCreateRequest,
          response: { 201: Single(ApiTokenCreated) },
        },
        config: { role: 'viewer' },
      },
      async (req, reply) => created(req, reply, await ctx.operators.tokens.create(req.principal, req.body)),
    );

    app.get(
      '/tokens',
      {
        schema: { tags, summary: 'List your API tokens (admins: any `user_id`)', querystring: ApiTokenListQuery, response: { 200: Paged(ApiToken) } },
        config: { role: 'viewer' },
      },
      async (req) => paged(req, await ctx.operators.tokens.list(req.principal, req.query)),
    );

    app.delete(
      '/tokens/:id',
      { schema: { tags, summary: 'Revoke an API token', params: ApiTokenIdParams, response: { 204: Type.Null() } }, config: { role: 'viewer' } },
      async (req, reply) => {
        await ctx.operators.tokens.revoke(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
