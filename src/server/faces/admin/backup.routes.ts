import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EncryptedExport, EncryptedExportRequest, ExportDocument, ExportQuery, ImportReport, ImportRequest } from '../../../contract/admin/backup.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { ok } from './http.ts';

const tags = ['Export and import'];

/** Export and import (manager spec §5.6, extended); super_admin only, like the spec's. */
export const backupRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/export',
      {
        config: { role: 'super_admin' },
        schema: {
          tags,
          summary: 'Export the whole plane without secrets (the spec document, extended)',
          querystring: ExportQuery,
          response: { 200: ExportDocument },
        },
      },
      async (req) => ctx.backup.export(req.principal, req.query),
    );

    app.post(
      '/export',
      {
        config: { role: 'super_admin' },
        schema: {
          tags,
          summary: 'Export the whole plane with its secrets, encrypted with a passphrase',
          body: EncryptedExportRequest,
          response: { 200: EncryptedExport },
        },
      },
      async (req) => ctx.backup.exportEncrypted(req.principal, req.body),
    );

    app.post(
      '/import',
      {
        config: { role: 'super_admin' },
        bodyLimit: ctx.config.importBodyLimitBytes,
        schema: {
          tags,
          summary: 'Restore an export into an empty plane (idempotent; dry_run reports without storing)',
          body: ImportRequest,
          response: { 200: Single(ImportReport) },
        },
      },
      async (req) => ok(req, await ctx.backup.import(req.body)),
    );
  };
