import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';

export const coreNodeRoutes =
  (_ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (_app) => {};
