/** `GET /health` of the manager listener (manager spec §5.8), public. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ManagerHealth } from '../../../contract/manager/nodes.ts';

export const managerHealthRoutes =
  (options: { version: string; selfSignedCert: boolean }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/health',
      { schema: { tags: ['Manager'], summary: 'Liveness', security: [], response: { 200: ManagerHealth } }, config: { auth: 'public' } },
      async () => ({ status: 'ok', service: 'bilbycast-manager', version: options.version, self_signed_cert: options.selfSignedCert }),
    );
  };
