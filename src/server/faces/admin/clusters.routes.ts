import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Cluster, ClusterCreateRequest, ClusterListQuery, ClusterNameParams, ClusterUpdateRequest } from '../../../contract/admin/clusters.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Clusters'];

export const clusterRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/clusters',
      {
        schema: { tags, summary: 'Create a cluster', body: ClusterCreateRequest, response: { 201: Single(Cluster) } },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        const cluster = await ctx.clusters.create(req.principal, req.body);
        return created(req, reply, cluster, `/api/v1/clusters/${cluster.name}`);
      },
    );

    app.get(
      '/clusters',
      {
        schema: { tags, summary: 'List clusters', querystring: ClusterListQuery, response: { 200: Paged(Cluster) } },
      },
      async (req) => paged(req, await ctx.clusters.list(req.principal, req.query)),
    );

    app.get(
      '/clusters/:name',
      {
        schema: { tags, summary: 'Get a cluster', params: ClusterNameParams, response: { 200: Single(Cluster) } },
      },
      async (req) => ok(req, await ctx.clusters.get(req.principal, req.params.name)),
    );

    app.patch(
      '/clusters/:name',
      {
        schema: { tags, summary: 'Update a cluster', params: ClusterNameParams, body: ClusterUpdateRequest, response: { 200: Single(Cluster) } },
        config: { degradedGate: true },
      },
      async (req) => ok(req, await ctx.clusters.update(req.principal, req.params.name, req.body)),
    );

    app.delete(
      '/clusters/:name',
      {
        schema: { tags, summary: 'Delete an empty cluster', params: ClusterNameParams, response: { 204: Type.Null() } },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        await ctx.clusters.delete(req.params.name);
        return noContent(reply);
      },
    );
  };
