import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { FleetListQuery, FleetNode, FleetNodeParams, FleetNodeUpdateRequest } from '../../../contract/admin/fleet.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { noContent, ok, paged } from './http.ts';

const tags = ['Fleet'];

export const fleetRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/fleet',
      {
        schema: { tags, summary: 'List nodes of every kind with shared statuses', querystring: FleetListQuery, response: { 200: Paged(FleetNode) } },
      },
      async (req) => paged(req, await ctx.fleet.list(req.principal, req.query)),
    );

    app.get(
      '/fleet/:id',
      {
        schema: { tags, summary: 'Get a node of any kind', params: FleetNodeParams, response: { 200: Single(FleetNode) } },
      },
      async (req) => ok(req, await ctx.fleet.get(req.principal, req.params.id)),
    );

    app.patch(
      '/fleet/:id',
      {
        schema: {
          tags,
          summary: 'Rename a node or replace its labels',
          params: FleetNodeParams,
          body: FleetNodeUpdateRequest,
          response: { 200: Single(FleetNode) },
        },
        config: { degradedGate: true },
      },
      async (req) => ok(req, await ctx.fleet.update(req.principal, req.params.id, req.body)),
    );

    app.delete(
      '/fleet/:id',
      {
        schema: { tags, summary: "Delete a node by its kind's rules", params: FleetNodeParams, response: { 204: Type.Null() } },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        await ctx.fleet.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
