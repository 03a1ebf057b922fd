import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ChangeClusterRequest, Node, NodeIdParams, NodeListQuery } from '../../../contract/admin/nodes.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { noContent, ok, paged } from './http.ts';

const tags = ['Nodes'];

export const nodesRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/nodes',
      {
        schema: { tags, summary: 'List edge nodes', querystring: NodeListQuery, response: { 200: Paged(Node) } },
      },
      async (req) => paged(req, await ctx.nodes.list(req.principal, req.query)),
    );

    app.get(
      '/nodes/:id',
      {
        schema: { tags, summary: 'Get an edge node', params: NodeIdParams, response: { 200: Single(Node) } },
      },
      async (req) => ok(req, await ctx.nodes.get(req.principal, req.params.id)),
    );

    app.delete(
      '/nodes/:id',
      {
        schema: { tags, summary: 'Delete an edge node with its aliases and address', params: NodeIdParams, response: { 204: Type.Null() } },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        await ctx.nodes.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );

    app.patch(
      '/nodes/:id/change_cluster',
      {
        schema: {
          tags,
          summary: 'Move a node to another cluster (drops its aliases)',
          params: NodeIdParams,
          body: ChangeClusterRequest,
          response: { 200: Single(Node) },
        },
        config: { degradedGate: true },
      },
      async (req) => ok(req, await ctx.nodes.changeCluster(req.principal, req.params.id, req.body)),
    );
  };
