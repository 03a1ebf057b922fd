import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Alias, AliasIdParams, AliasListQuery, AliasNodeParams, CreateAliasRequest } from '../../../contract/admin/aliases.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Aliases'];

export const aliasesRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // The contract gives this 201 no location header.
    app.post(
      '/nodes/:node_id/aliases',
      {
        schema: { tags, summary: 'Create an alias for a node', params: AliasNodeParams, body: CreateAliasRequest, response: { 201: Single(Alias) } },
      },
      async (req, reply) => created(req, reply, await ctx.aliases.create(req.principal, req.params.node_id, req.body.name)),
    );

    app.get(
      '/aliases',
      {
        schema: { tags, summary: 'List aliases', querystring: AliasListQuery, response: { 200: Paged(Alias) } },
      },
      async (req) => paged(req, await ctx.aliases.list(req.principal, req.query)),
    );

    app.get(
      '/aliases/:id',
      {
        schema: { tags, summary: 'Get an alias', params: AliasIdParams, response: { 200: Single(Alias) } },
      },
      async (req) => ok(req, await ctx.aliases.get(req.principal, req.params.id)),
    );

    app.delete(
      '/aliases/:id',
      {
        schema: { tags, summary: 'Delete an alias', params: AliasIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.aliases.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
