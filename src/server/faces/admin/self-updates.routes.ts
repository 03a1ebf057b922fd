/** Self-update requests (edge-admin spec §3 rows 46–49, §10). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  SelfUpdateRequest,
  SelfUpdateRequestCreateRequest,
  SelfUpdateRequestIdParams,
  SelfUpdateRequestListQuery,
} from '../../../contract/admin/self-updates.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Self-updates'];

export const selfUpdateRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/self_update_requests',
      {
        schema: {
          tags,
          summary: 'Request a self-update of the targeted nodes (processed in the background)',
          description:
            'Only healthy nodes with self_update_enabled=true are triggered, whatever the node filters say. The summary is set when the request completes.',
          body: SelfUpdateRequestCreateRequest,
          response: { 201: Single(SelfUpdateRequest) },
        },
        config: { degradedGate: true, role: 'operator' },
      },
      async (req, reply) => {
        const request = await ctx.selfUpdates.create(req.principal, req.body);
        return created(req, reply, request, `/api/v1/self_update_requests/${request.id}`);
      },
    );

    app.get(
      '/self_update_requests',
      {
        schema: { tags, summary: 'List self-update requests', querystring: SelfUpdateRequestListQuery, response: { 200: Paged(SelfUpdateRequest) } },
      },
      async (req) => paged(req, await ctx.selfUpdates.list(req.principal, req.query)),
    );

    app.get(
      '/self_update_requests/:id',
      {
        schema: { tags, summary: 'Get a self-update request', params: SelfUpdateRequestIdParams, response: { 200: Single(SelfUpdateRequest) } },
      },
      async (req) => ok(req, await ctx.selfUpdates.get(req.principal, req.params.id)),
    );

    app.delete(
      '/self_update_requests/:id',
      {
        schema: { tags, summary: 'Delete a completed self-update request', params: SelfUpdateRequestIdParams, response: { 204: Type.Null() } },
        config: { role: 'operator' },
      },
      async (req, reply) => {
        await ctx.selfUpdates.delete(req.principal, req.params.id);
        return noContent(reply);
      },
    );
  };
