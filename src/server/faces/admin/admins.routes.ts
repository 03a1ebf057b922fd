import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Admin, AdminCluster, AdminDiscovery, EdgeClusters, EventTypeList, MyAdminCluster, OrphanedClusters } from '../../../contract/admin/admins.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { EVENT_TYPES } from '../../events/catalog.ts';
import { ok } from './http.ts';

const tags = ['Admins'];

export const adminsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admins/me',
      {
        schema: { tags, summary: 'Get this admin instance', response: { 200: Single(Admin) } },
      },
      async (req) => ok(req, await ctx.instances.me()),
    );

    // Public so a peer or a load balancer can learn which instance answered without a key.
    app.get(
      '/admins/me/discovery',
      {
        schema: { tags, summary: "This admin instance's name", security: [], response: { 200: Single(AdminDiscovery) } },
        config: { auth: 'public' },
      },
      async (req) => ok(req, { name: ctx.instances.adminName }),
    );

    app.get(
      '/admins/my_admin_cluster',
      {
        schema: { tags, summary: "Get this admin's admin cluster", response: { 200: Single(MyAdminCluster) } },
      },
      async (req) => ok(req, await ctx.instances.myAdminCluster()),
    );

    app.get(
      '/admins/admin_clusters',
      {
        schema: { tags, summary: 'List admin clusters and their admins', response: { 200: Single(Type.Array(AdminCluster)) } },
      },
      async (req) => ok(req, await ctx.instances.adminClusters()),
    );

    app.get(
      '/admins/edge_clusters',
      {
        schema: { tags, summary: 'Edge cluster assignments of every admin', response: { 200: Single(EdgeClusters) } },
      },
      async (req) => ok(req, await ctx.instances.edgeClusters(req.principal)),
    );

    app.get(
      '/admins/orphaned_clusters',
      {
        schema: { tags, summary: 'Clusters no admin has capacity for', response: { 200: Single(OrphanedClusters) } },
      },
      async (req) => ok(req, await ctx.instances.orphanedClusters(req.principal)),
    );

    app.get(
      '/event_types',
      {
        schema: { tags: ['Events'], summary: 'List event types', response: { 200: Single(EventTypeList) } },
      },
      async (req) => ok(req, [...EVENT_TYPES]),
    );
  };
