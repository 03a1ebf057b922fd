/**
 * The Core node lifecycle routes (seed 000 "Core Private Node Routes", specs/core-node.md §4.3):
 * register, heartbeat, config/latest, config/applied, error. Usage ingest lives in ingest.routes.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NodeConfigSchema } from '../../../contract/core-node/config.ts';
import {
  ConfigLatestQuery,
  CoreErrorBody,
  NodeAuthHeaders,
  NodeConfigAppliedDto,
  NodeErrorDto,
  NodeHeartbeatDto,
  NodeHeartbeatResponse,
  OkResponse,
  RegisterNodeDto,
  RegisterNodeResponse,
} from '../../../contract/core-node/node.ts';
import type { AppContext } from '../../context.ts';
import { nodeOf } from '../face-kit.ts';
import { publicRateLimit } from '../../http/rate-limit.ts';

const tags = ['Core node API'];
// The node authenticates with x-node-auth-key (declared as a header), not the Admin API's bearer key.
const security: never[] = [];
const errors = { 400: CoreErrorBody, 401: CoreErrorBody };

export const coreNodeRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Held long-polls would keep close() waiting for their full wait.
    app.addHook('preClose', async () => ctx.coreNodes.releaseWaiters());

    app.post(
      '/register',
      {
        schema: {
          tags,
          security,
          summary: 'Register a node with the code an operator created for it; returns a new auth key',
          body: RegisterNodeDto,
          response: { 201: RegisterNodeResponse, ...errors },
        },
        bodyLimit: ctx.config.publicBodyLimitBytes,
        config: { auth: 'public', rateLimit: publicRateLimit(ctx.config) },
      },
      async (req, reply) => {
        const result = await ctx.coreNodes.register(req.body);
        return reply.code(201).send(result);
      },
    );

    app.post(
      '/heartbeat',
      {
        schema: {
          tags,
          security,
          summary: 'Report liveness; answers whether the node must fetch its config',
          headers: NodeAuthHeaders,
          body: NodeHeartbeatDto,
          response: { 200: NodeHeartbeatResponse, ...errors },
        },
      },
      async (req) => ctx.coreNodes.heartbeat(nodeOf(req), req.body),
    );

    app.get(
      '/config/latest',
      {
        schema: {
          tags,
          security,
          summary:
            "The node's NodeConfig; 304 when If-None-Match names the current ETag. With ?wait=<seconds> that 304 is held until the config changes (long-poll)",
          headers: Type.Object({ ...NodeAuthHeaders.properties, 'if-none-match': Type.Optional(Type.String({ maxLength: 1024 })) }),
          querystring: ConfigLatestQuery,
          response: { 200: NodeConfigSchema, 304: Type.Null(), 400: CoreErrorBody, 401: CoreErrorBody },
        },
      },
      async (req, reply) => {
        // A node that hangs up stops its wait; nothing is held for it.
        const gone = new AbortController();
        reply.raw.once('close', () => gone.abort());
        const result = await ctx.coreNodes.latestConfig(nodeOf(req), req.headers['if-none-match'], (req.query.wait ?? 0) * 1000, gone.signal);
        reply.header('etag', result.etag).header('cache-control', 'no-cache');
        if (result.notModified) return reply.code(304).send(undefined as never);
        // Sent as rendered: the bytes the ETag names.
        return reply.type('application/json; charset=utf-8').send(result.body as never);
      },
    );

    app.post(
      '/config/applied',
      {
        schema: {
          tags,
          security,
          summary: 'Confirm that a config revision is applied',
          headers: NodeAuthHeaders,
          body: NodeConfigAppliedDto,
          response: { 200: OkResponse, ...errors, 409: CoreErrorBody },
        },
      },
      async (req) => ctx.coreNodes.applied(nodeOf(req), req.body),
    );

    app.post(
      '/error',
      {
        schema: {
          tags,
          security,
          summary: 'Report that the node failed to apply its config',
          headers: NodeAuthHeaders,
          body: NodeErrorDto,
          response: { 200: OkResponse, ...errors },
        },
        // Error reports are small; a huge `details` is refused before it is parsed.
        bodyLimit: 64 * 1024,
      },
      async (req) => ctx.coreNodes.error(nodeOf(req), req.body),
    );
  };
