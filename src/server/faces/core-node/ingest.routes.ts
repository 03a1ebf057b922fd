import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';

export const coreIngestRoutes =
  (_ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (_app) => {};
