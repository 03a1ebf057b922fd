/** Builds the Fastify app without listening, so tests run the real thing in-process. */
import Fastify, { type FastifyContextConfig, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from './context.ts';
import { uuidv7 } from './lib/ids.ts';
import { bodyTooDeep, validatorCompiler } from './http/validation.ts';
import { installRateLimits } from './http/rate-limit.ts';
import { installFaceKit } from './faces/face-kit.ts';
import { adminErrors } from './faces/admin/http.ts';
import { type FaceErrors } from './faces/face-kit.ts';
import { installSecurityHeaders, managerErrors } from './faces/manager/http.ts';
import { managerFace } from './faces/manager/manager.face.ts';
import { managerHealthRoutes } from './faces/manager/health.routes.ts';
import { ManagerTlsService } from './modules/manager/manager-tls.service.ts';
import { WS_MAX_PAYLOAD } from './faces/manager/node-hub.ts';
import { adminFace } from './faces/admin/admin.face.ts';
import { agentsFace } from './faces/agents/agents.face.ts';
import { coreNodeFace } from './faces/core-node/core-node.face.ts';
import { rootMetricsRoutes } from './faces/admin/node-metrics.routes.ts';
import { subscriptionLinkRoutes } from './faces/subscription/sub.routes.ts';
import { installHttpMetrics } from './modules/metrics/registry.ts';
import { redactingLogger } from './http/log-redaction.ts';

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: RegisteredRoute[];
  }
}

/** A route as declared: what the OpenAPI and route-role tests compare against. */
export interface RegisteredRoute {
  method: string;
  url: string;
  config: FastifyContextConfig;
}

export const APP_VERSION = '0.1.0';

export interface AppOptions {
  logger?: boolean | object;
  https?: { cert: Buffer; key: Buffer } | null;
}

export async function buildApp(ctx: AppContext, options: AppOptions = {}): Promise<FastifyInstance> {
  // Outside every face (health, OpenAPI, /metrics, unknown routes) errors speak the Admin API's envelope.
  const app = createApp(ctx, options, adminErrors);
  installHttpMetrics(app, ctx.nodeMetrics.registry);
  await installRateLimits(app);
  // Operators' dashboard sessions (Admin API authenticator).
  await app.register(cookie);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Nodeplane', version: APP_VERSION, description: 'Control plane for fleets of remote nodes.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/swaggerui' });
  // No per-message compression: it costs ~300 KB per idle socket, and frames are small.
  await app.register(websocket, { options: { perMessageDeflate: false, maxPayload: 64 * 1024 } });

  app.get('/openapi.json', { schema: { hide: true }, config: { auth: 'public' } }, async () => app.swagger());
  app.get(
    '/health',
    {
      schema: { tags: ['Health'], summary: 'Liveness', security: [], response: { 200: Type.Object({ status: Type.String(), version: Type.String() }) } },
      config: { auth: 'public' },
    },
    async () => ({ status: 'ok', version: APP_VERSION }),
  );

  await app.register(rootMetricsRoutes(ctx));

  // One plugin per face, each with its own authenticator and error format. The agents face is a
  // sibling of the Admin API under the same prefix: node tokens there, boot keys here.
  await app.register(adminFace(ctx), { prefix: '/api/v1' });
  await app.register(agentsFace(ctx), { prefix: '/api/v1/agents' });
  await app.register(coreNodeFace(ctx), { prefix: '/node' });
  // Public subscription links (unguessable link UUIDs).
  await app.register(subscriptionLinkRoutes(ctx));

  return app;
}

export interface ManagerAppOptions {
  logger?: boolean | object;
  https: { cert: Buffer | string; key: Buffer | string };
  /** Whether the certificate is the generated self-signed one (`GET /health` says so). */
  selfSignedCert: boolean;
  /** The files the served pair came from (an operator's upload replaces them). */
  tlsFiles: { certPath: string; keyPath: string };
}

/**
 * The manager face's app, for its own TLS listener (manager spec §1.1, §5): `/ws/node`, `/health`
 * and the manager's REST API, with the manager's error body and security headers everywhere. Its
 * OpenAPI document is built (tests read it with `app.swagger()`) but not served: the listener
 * offers exactly the manager's surface.
 */
export async function buildManagerApp(ctx: AppContext, options: ManagerAppOptions): Promise<FastifyInstance> {
  const app = createApp(ctx, { logger: options.logger, https: options.https }, managerErrors);
  installSecurityHeaders(app);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Nodeplane manager face', version: APP_VERSION, description: 'Bilbycast-compatible manager API.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // Frames over 5 MB are dropped by the hub, not by ws (which would close the socket).
  await app.register(websocket, { options: { perMessageDeflate: false, maxPayload: WS_MAX_PAYLOAD } });
  await app.register(managerHealthRoutes({ version: APP_VERSION, selfSignedCert: options.selfSignedCert }));
  await app.register(managerFace(ctx, new ManagerTlsService({ cert: String(options.https.cert), ...options.tlsFiles })));
  return app;
}

/** A Fastify app with the settings every listener shares: timeouts, validation, JSON parsing, route registry, request ids, the face kit. */
function createApp(ctx: AppContext, options: AppOptions | Pick<ManagerAppOptions, 'logger' | 'https'>, rootErrors: FaceErrors): FastifyInstance {
  const { config } = ctx;
  // Slow clients: headers and the whole request must arrive in time. Upgraded WebSockets leave
  // Node's HTTP connection tracking, so these never cut a live agent channel.
  const timeouts = {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    // Node checks the deadlines on this period (30 s by default), which would stretch them.
    connectionsCheckingInterval: Math.min(Math.max(Math.floor(config.httpHeadersTimeoutMs / 4), 50), 5_000),
  };
  const serverOptions = {
    logger: redactingLogger((options.logger ?? false) as boolean | Record<string, unknown>),
    https: options.https ? { ...options.https, ...timeouts } : null,
    http: timeouts,
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    trustProxy: config.trustProxy,
    genReqId: () => uuidv7(),
    requestIdHeader: false,
    bodyLimit: ctx.config.bodyLimitBytes,
    ajv: { customOptions: { strict: false } },
    routerOptions: { ignoreTrailingSlash: true },
  } as FastifyServerOptions;
  // `https` switches Fastify's server type; the app's surface is the same either way.
  const app = (Fastify(serverOptions) as unknown as FastifyInstance).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Clients commonly send an empty body with a JSON content type on routes whose body is optional
  // (cancel, acknowledge, enrollment-key create): that means "no body"; a required body still 400s.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === ''
      ? done(null, undefined)
      : parseJson(request, body as string, (error, parsed) => (error ? done(error, undefined) : done(bodyTooDeep(parsed), parsed))),
  );
  // Kept so the OpenAPI test can prove every route is documented and the role test that every route has its role.
  const registeredRoutes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (route) => {
    if ((route.schema as { hide?: boolean } | undefined)?.hide) return;
    // Query strings are closed everywhere: a parameter a route does not declare is a 400.
    if (route.schema && !route.schema.querystring) route.schema = { ...route.schema, querystring: Type.Object({}, { additionalProperties: false }) };
    for (const method of [route.method].flat()) if (method !== 'HEAD') registeredRoutes.push({ method, url: route.url, config: route.config ?? {} });
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Outside every face (health, docs, unknown routes) errors speak the listener's root format.
  installFaceKit(app, rootErrors);
  return app;
}
