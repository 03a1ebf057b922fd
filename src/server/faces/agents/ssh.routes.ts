import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { VerifyCredentialsRequest, VerifyCredentialsResult } from '../../../contract/agents/ssh.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok } from '../admin/http.ts';
import { nodeOf } from '../face-kit.ts';

const tags = ['Agents'];

/** The agent's SSH login check (edge-admin spec §9.2): the node comes from its token. */
export const agentSshRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/ssh_usernames/verify_credentials',
      {
        schema: {
          tags,
          summary: "Check an SSH login (username with a password or a public key) against the calling node's usernames",
          body: VerifyCredentialsRequest,
          response: { 200: Single(VerifyCredentialsResult) },
        },
      },
      async (req) => ok(req, await ctx.ssh.verifyCredentials(nodeOf(req), req.body)),
    );
  };
