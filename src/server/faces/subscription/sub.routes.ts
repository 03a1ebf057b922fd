import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';

export const subscriptionLinkRoutes =
  (_ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (_app) => {};
