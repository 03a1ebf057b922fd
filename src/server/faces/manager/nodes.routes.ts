/** The manager's node routes (manager spec §5.3) in its own shapes: bare objects and arrays. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  ManagerError,
  ManagerNode,
  ManagerNodeCreated,
  ManagerNodeCreateRequest,
  ManagerNodeIdParams,
  ManagerNodeListQuery,
  ManagerNodeUpdateRequest,
  RegistrationToken,
} from '../../../contract/manager/nodes.ts';
import type { AppContext } from '../../context.ts';

const tags = ['Manager nodes'];
const errors = { 400: ManagerError, 401: ManagerError, 403: ManagerError, 404: ManagerError };

export const managerNodeRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const nodes = ctx.manager.nodes;

    app.get(
      '/nodes',
      {
        schema: {
          tags,
          summary: 'List nodes (only those the caller may see)',
          querystring: ManagerNodeListQuery,
          response: { 200: Type.Array(ManagerNode), ...errors },
        },
        config: { role: 'viewer' },
      },
      async (req) => nodes.list(req.principal, req.query),
    );

    app.post(
      '/nodes',
      {
        schema: {
          tags,
          summary: 'Create a node; the answer carries its one-time registration token, shown only here',
          body: ManagerNodeCreateRequest,
          response: { 201: ManagerNodeCreated, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req, reply) => reply.code(201).send(await nodes.create(req.principal, req.body)),
    );

    app.get(
      '/nodes/:id',
      { schema: { tags, summary: 'Read a node', params: ManagerNodeIdParams, response: { 200: ManagerNode, ...errors } }, config: { role: 'viewer' } },
      async (req) => nodes.get(req.principal, req.params.id),
    );

    app.put(
      '/nodes/:id',
      {
        schema: {
          tags,
          summary: 'Rename a node, describe it or change its expiry',
          params: ManagerNodeIdParams,
          body: ManagerNodeUpdateRequest,
          response: { 200: ManagerNode, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => nodes.update(req.principal, req.params.id, req.body),
    );

    app.delete(
      '/nodes/:id',
      {
        schema: { tags, summary: 'Delete a node and close its live session', params: ManagerNodeIdParams, response: { 204: Type.Null(), ...errors } },
        config: { role: 'admin' },
      },
      async (req, reply) => {
        await nodes.delete(req.principal, req.params.id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/nodes/:id/token',
      {
        schema: {
          tags,
          summary: 'Issue a new registration token; the node goes back to pending (its secret keeps working)',
          params: ManagerNodeIdParams,
          response: { 200: RegistrationToken, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => nodes.issueToken(req.principal, req.params.id),
    );
  };
