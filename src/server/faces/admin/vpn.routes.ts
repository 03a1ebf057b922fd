import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../context.ts';

export const vpnAdminRoutes =
  (_ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (_app) => {};
