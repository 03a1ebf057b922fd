import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  ClusterNameParam,
  EnrollmentKey,
  EnrollmentKeyCreateRequest,
  EnrollmentKeyIdParams,
  EnrollmentKeyListQuery,
  EnrollmentKeyUpdateRequest,
  NoQuery,
} from '../../../contract/admin/enrollment-keys.ts';
import { Paged, Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import { created, noContent, ok, paged } from './http.ts';
import { publicRateLimit } from '../../http/rate-limit.ts';

const tags = ['Enrollment keys'];
const location = (key: EnrollmentKey) => `/api/v1/enrollment_keys/${key.id}`;
/** A key read back is a key that enrolls nodes: reading one is as much as creating one. */
const keyReader = { role: 'admin' as const };

export const enrollmentKeysRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // `default` here is a keyword, not a cluster: these static routes win over `:cluster_name`.
    app.post(
      '/clusters/default/enrollment_keys/public',
      {
        schema: {
          tags,
          summary: 'Get a single-use enrollment key for the default cluster (public)',
          security: [],
          querystring: NoQuery,
          response: { 201: Single(EnrollmentKey) },
        },
        bodyLimit: ctx.config.publicBodyLimitBytes,
        config: { auth: 'public', degradedGate: true, rateLimit: publicRateLimit(ctx.config) },
      },
      async (req, reply) => created(req, reply, await ctx.enrollmentKeys.createPublic()),
    );

    app.post(
      '/clusters/default/enrollment_keys',
      {
        schema: {
          tags,
          summary: 'Create an enrollment key for the default cluster',
          querystring: NoQuery,
          body: EnrollmentKeyCreateRequest,
          response: { 201: Single(EnrollmentKey) },
        },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        const key = await ctx.enrollmentKeys.createForDefaultCluster(req.body);
        return created(req, reply, key, location(key));
      },
    );

    app.post(
      '/clusters/:cluster_name/enrollment_keys',
      {
        schema: {
          tags,
          summary: 'Create an enrollment key for a cluster',
          params: ClusterNameParam,
          querystring: NoQuery,
          body: EnrollmentKeyCreateRequest,
          response: { 201: Single(EnrollmentKey) },
        },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        const key = await ctx.enrollmentKeys.createForCluster(req.params.cluster_name, req.body);
        return created(req, reply, key, location(key));
      },
    );

    app.get(
      '/enrollment_keys',
      {
        schema: { tags, summary: 'List enrollment keys', querystring: EnrollmentKeyListQuery, response: { 200: Paged(EnrollmentKey) } },
        config: keyReader,
      },
      async (req) => paged(req, await ctx.enrollmentKeys.list(req.query)),
    );

    app.get(
      '/enrollment_keys/:id',
      {
        schema: { tags, summary: 'Get an enrollment key', params: EnrollmentKeyIdParams, querystring: NoQuery, response: { 200: Single(EnrollmentKey) } },
        config: keyReader,
      },
      async (req) => ok(req, await ctx.enrollmentKeys.get(req.params.id)),
    );

    app.patch(
      '/enrollment_keys/:id',
      {
        schema: {
          tags,
          summary: 'Update an enrollment key',
          params: EnrollmentKeyIdParams,
          querystring: NoQuery,
          body: EnrollmentKeyUpdateRequest,
          response: { 200: Single(EnrollmentKey) },
        },
        config: { degradedGate: true },
      },
      async (req) => ok(req, await ctx.enrollmentKeys.update(req.params.id, req.body)),
    );

    app.delete(
      '/enrollment_keys/:id',
      {
        schema: { tags, summary: 'Delete an enrollment key', params: EnrollmentKeyIdParams, querystring: NoQuery, response: { 204: Type.Null() } },
        config: { degradedGate: true },
      },
      async (req, reply) => {
        await ctx.enrollmentKeys.delete(req.params.id);
        return noContent(reply);
      },
    );
  };
