/** The agent's self-update pull route (edge-admin spec §6.5, §10); connected agents are also pushed `self_update`. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SelfUpdateCheck } from '../../../contract/agents/self-updates.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok } from '../admin/http.ts';
import { nodeOf } from '../face-kit.ts';

export const agentSelfUpdateRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/self_updates/check',
      {
        schema: {
          tags: ['Agents'],
          summary: 'Whether the newest self-update request includes the calling node',
          response: { 200: Single(SelfUpdateCheck) },
        },
      },
      async (req) => ok(req, await ctx.selfUpdates.check(nodeOf(req))),
    );
  };
