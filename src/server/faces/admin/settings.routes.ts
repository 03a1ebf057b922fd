import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Settings, SettingsUpdateRequest } from '../../../contract/admin/settings.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok } from './http.ts';

const tags = ['Settings'];

export const settingsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/settings',
      { schema: { tags, summary: 'Every setting with its value (saved, else the default)', response: { 200: Single(Settings) } }, config: { role: 'admin' } },
      async (req) => ok(req, await ctx.settings.all(req.principal)),
    );

    app.put(
      '/settings',
      {
        schema: {
          tags,
          summary: 'Save settings: all of them, or none when any key is unknown or out of range; answers every setting',
          body: SettingsUpdateRequest,
          response: { 200: Single(Settings) },
        },
        config: { role: 'admin' },
      },
      async (req) => ok(req, await ctx.settings.update(req.principal, req.body.settings)),
    );
  };
