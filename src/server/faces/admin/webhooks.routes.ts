import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Webhook, WebhookCreateRequest, WebhookIdParams, WebhookListQuery } from '../../../contract/admin/webhooks.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';

const tags = ['Webhooks'];

/** Webhooks are immutable (delete and recreate) and never render their secret or headers. */
export const webhookRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'Create a webhook (the URL is SSRF-checked; secret and headers are write-only)',
          body: WebhookCreateRequest,
          response: { 201: Single(Webhook) },
        },
      },
      async (req, reply) => {
        const webhook = await ctx.webhooks.create(req.body);
        return created(req, reply, webhook, `/api/v1/webhooks/${webhook.id}`);
      },
    );

    app.get(
      '/webhooks',
      {
        schema: { tags, summary: 'List webhooks', querystring: WebhookListQuery, response: { 200: Paged(Webhook) } },
      },
      async (req) => paged(req, await ctx.webhooks.list(req.query)),
    );

    app.get(
      '/webhooks/:id',
      {
        schema: { tags, summary: 'Get a webhook', params: WebhookIdParams, response: { 200: Single(Webhook) } },
      },
      async (req) => ok(req, await ctx.webhooks.get(req.params.id)),
    );

    app.delete(
      '/webhooks/:id',
      {
        schema: { tags, summary: 'Delete a webhook and cancel its pending deliveries', params: WebhookIdParams, response: { 204: Type.Null() } },
      },
      async (req, reply) => {
        await ctx.webhooks.delete(req.params.id);
        return noContent(reply);
      },
    );
  };
