/**
 * The manager's operator surface (manager spec §5.1, §5.2, §5.5, §5.6) in its own shapes, on the
 * operators, settings and backup services the Admin API uses: bare `UserInfo` bodies, settings as a
 * plain map, the listener's certificate, and the same export and import documents.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ExportDocument, ExportQuery, ImportReport, ImportRequest } from '../../../contract/admin/backup.ts';
import { UserCreateRequest, UserIdParams, UserInfo, UserUpdateRequest } from '../../../contract/admin/operators.ts';
import { Settings, SettingsUpdateRequest } from '../../../contract/admin/settings.ts';
import { ManagerError } from '../../../contract/manager/nodes.ts';
import { EmptyBody, ManagerTlsInfo, ManagerTlsUpload, ManagerTlsUploadResult } from '../../../contract/manager/operators.ts';
import type { AppContext } from '../../context.ts';
import type { ManagerTlsService } from '../../modules/manager/manager-tls.service.ts';
import { signInRoutes } from '../admin/auth.routes.ts';

const errors = { 400: ManagerError, 401: ManagerError, 403: ManagerError, 404: ManagerError };

export const managerOperatorRoutes =
  (ctx: AppContext, tls: ManagerTlsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    await app.register(signInRoutes(ctx));
    const users = ctx.operators.users;

    app.get(
      '/users',
      { schema: { tags: ['Manager users'], summary: 'List operators', response: { 200: Type.Array(UserInfo), ...errors } }, config: { role: 'admin' } },
      async () => users.all(),
    );

    app.post(
      '/users',
      {
        schema: {
          tags: ['Manager users'],
          summary: 'Create an operator (only a super_admin creates a super_admin)',
          body: UserCreateRequest,
          response: { 201: UserInfo, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req, reply) => reply.code(201).send(await users.create(req.principal, req.body)),
    );

    app.get(
      '/users/:id',
      {
        schema: {
          tags: ['Manager users'],
          summary: 'Read an operator (yourself, or anyone as an admin)',
          params: UserIdParams,
          response: { 200: UserInfo, ...errors },
        },
        config: { role: 'viewer' },
      },
      async (req) => users.get(req.principal, req.params.id),
    );

    app.put(
      '/users/:id',
      {
        schema: {
          tags: ['Manager users'],
          summary: 'Change an operator (only a super_admin edits a super_admin)',
          params: UserIdParams,
          body: UserUpdateRequest,
          response: { 200: UserInfo, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => users.update(req.principal, req.params.id, req.body),
    );

    app.delete(
      '/users/:id',
      {
        schema: { tags: ['Manager users'], summary: 'Delete an operator (not yourself)', params: UserIdParams, response: { 204: Type.Null(), ...errors } },
        config: { role: 'admin' },
      },
      async (req, reply) => {
        await users.delete(req.principal, req.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/settings',
      { schema: { tags: ['Manager settings'], summary: 'Every setting: {key: value}', response: { 200: Settings, ...errors } }, config: { role: 'admin' } },
      async (req) => ctx.settings.all(req.principal),
    );

    app.put(
      '/settings',
      {
        schema: {
          tags: ['Manager settings'],
          summary: 'Save settings, all or none (an unknown key or a value out of range is a 400 naming it)',
          body: SettingsUpdateRequest,
          response: { 200: EmptyBody, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req, reply) => {
        await ctx.settings.update(req.principal, req.body.settings);
        return reply.code(200).send(undefined);
      },
    );

    app.get(
      '/settings/tls',
      {
        schema: { tags: ['Manager settings'], summary: "The manager listener's certificate", response: { 200: ManagerTlsInfo, ...errors } },
        config: { role: 'admin' },
      },
      async (req) => tls.info(req.principal),
    );

    app.post(
      '/settings/tls/upload',
      {
        schema: {
          tags: ['Manager settings'],
          summary: "Replace the listener's certificate and key (checked first; served after a restart)",
          body: ManagerTlsUpload,
          response: { 200: ManagerTlsUploadResult, ...errors },
        },
        config: { role: 'admin' },
      },
      async (req) => tls.upload(req.principal, req.body),
    );

    app.get(
      '/export',
      {
        schema: {
          tags: ['Manager export'],
          summary: 'Export the plane without secrets',
          querystring: ExportQuery,
          response: { 200: ExportDocument, ...errors },
        },
        config: { role: 'super_admin' },
      },
      async (req) => ctx.backup.export(req.principal, req.query),
    );

    app.post(
      '/import',
      {
        bodyLimit: ctx.config.importBodyLimitBytes,
        schema: {
          tags: ['Manager export'],
          summary: 'Restore an export into an empty plane (dry_run reports without storing)',
          body: ImportRequest,
          response: { 200: ImportReport, ...errors },
        },
        config: { role: 'super_admin' },
      },
      async (req) => ctx.backup.import(req.body),
    );
  };
