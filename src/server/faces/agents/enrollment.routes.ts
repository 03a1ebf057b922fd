import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NoQuery, VerifyEnrollmentKeyRequest, VerifyEnrollmentKeyResponse } from '../../../contract/admin/enrollment-keys.ts';
import type { AppContext } from '../../context.ts';
import { publicRateLimit } from '../../http/rate-limit.ts';

const tags = ['Agents'];

export const agentEnrollmentRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Always 200: the outcome is in the body, so agents can tell "bad key" from "admin down".
    app.post(
      '/enrollment_keys/verify',
      {
        schema: {
          tags,
          summary: 'Verify and consume an enrollment key (agent bootstrap)',
          security: [],
          querystring: NoQuery,
          body: VerifyEnrollmentKeyRequest,
          response: { 200: VerifyEnrollmentKeyResponse },
        },
        bodyLimit: ctx.config.publicBodyLimitBytes,
        config: { auth: 'public', rateLimit: publicRateLimit(ctx.config) },
      },
      async (req): Promise<VerifyEnrollmentKeyResponse> => {
        const result = await ctx.enrollmentKeys.verify(req.body.key);
        // Nodeplane is its own VPN controller: the join token slot carries the ticket that registration requires.
        return {
          data: {
            verified: result.verified,
            error: result.error ?? '',
            netmaker_key: result.joinTicket ?? '',
            cluster_name: result.verified ? result.clusterName : null,
          },
        };
      },
    );
  };
