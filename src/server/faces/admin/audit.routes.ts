import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuditListQuery, AuditRecord } from '../../../contract/admin/audit.ts';
import { Paged } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { paged } from './http.ts';

export const auditRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/audit',
      {
        schema: {
          tags: ['Audit'],
          summary: 'List the audit log, newest first: every state-changing call and every login, refused ones included',
          querystring: AuditListQuery,
          response: { 200: Paged(AuditRecord) },
        },
        config: { role: 'admin' },
      },
      async (req) => paged(req, await ctx.audit.list(req.principal, req.query)),
    );
  };
