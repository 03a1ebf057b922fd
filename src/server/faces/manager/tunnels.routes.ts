/** The manager's tunnels (manager spec §2.4, §5.3): read with Operator+, write with Admin+. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  NodeIdParams,
  Tunnel,
  TunnelCreateRequest,
  TunnelDeleted,
  TunnelIdParams,
  TunnelList,
  TunnelUpdateRequest,
  TunnelWithWarnings,
} from '../../../contract/manager/tunnels.ts';
import { ManagerError } from '../../../contract/manager/nodes.ts';
import type { AppContext } from '../../context.ts';

const tags = ['Manager tunnels'];
const errors = { 400: ManagerError, 401: ManagerError, 403: ManagerError, 404: ManagerError };

export const managerTunnelRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tunnels = ctx.tunnels;

    app.get('/tunnels', { schema: { tags, summary: 'List tunnels', response: { 200: TunnelList, ...errors } }, config: { role: 'operator' } }, async (req) =>
      tunnels.list(req.principal),
    );

    app.post(
      '/tunnels',
      {
        schema: {
          tags,
          summary: 'Create a tunnel and push its legs; `pending` with a warning per leg that could not be pushed',
          body: TunnelCreateRequest,
          response: { 201: TunnelWithWarnings, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req, reply) => reply.code(201).send(await tunnels.create(req.principal, req.body)),
    );

    app.get(
      '/tunnels/:id',
      { schema: { tags, summary: 'Read a tunnel', params: TunnelIdParams, response: { 200: Tunnel, ...errors } }, config: { role: 'operator' } },
      async (req) => tunnels.get(req.principal, req.params.id),
    );

    app.put(
      '/tunnels/:id',
      {
        schema: {
          tags,
          summary: 'Change a tunnel; its legs are pushed again',
          params: TunnelIdParams,
          body: TunnelUpdateRequest,
          response: { 200: TunnelWithWarnings, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => tunnels.update(req.principal, req.params.id, req.body),
    );

    app.delete(
      '/tunnels/:id',
      {
        schema: {
          tags,
          summary: 'Delete a tunnel: its edges drop it, the relay revokes it',
          params: TunnelIdParams,
          response: { 200: TunnelDeleted, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => tunnels.delete(req.principal, req.params.id),
    );

    app.get(
      '/nodes/:id/tunnels',
      { schema: { tags, summary: "A node's tunnels", params: NodeIdParams, response: { 200: TunnelList, ...errors } }, config: { role: 'operator' } },
      async (req) => tunnels.list(req.principal, req.params.id),
    );
  };
