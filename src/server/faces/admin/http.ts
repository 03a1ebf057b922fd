/**
 * The Admin API's wire conventions (edge-admin spec §1–2, §5): `{data, meta}` envelopes, the error
 * envelope and its codes, Bearer-key auth and the degraded-mode gate. Routes stay one-liners.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../../errors.ts';
import type { Page } from '../../db/listing.ts';
import { validationDetails } from '../../http/validation.ts';
import { microsecondTimestamp } from '../../lib/time.ts';
import { constantTimeEqual } from '../../lib/secrets.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which Admin API key may call the route; `public` needs none; `face` = the face authenticates. */
    auth?: 'api' | 'metrics' | 'public' | 'face';
    /** Refused with 503 `degraded_mode` while the admin cluster is over capacity. */
    degradedGate?: boolean;
  }
}

export const meta = (request: FastifyRequest) => ({ request_id: request.id, timestamp: microsecondTimestamp() });

export const ok = <T>(request: FastifyRequest, data: T) => ({ data, meta: meta(request) });

export const paged = <T>(request: FastifyRequest, page: Page<T>) => ({
  data: page.items,
  meta: { ...meta(request), pagination: page.pagination },
});

export function created<T>(request: FastifyRequest, reply: FastifyReply, data: T, location?: string) {
  reply.code(201);
  if (location) reply.header('location', location);
  return ok(request, data);
}

export function noContent(reply: FastifyReply) {
  return reply.code(204).send();
}

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  validation_failed: 422,
  degraded_mode: 503,
  service_unavailable: 503,
};

const DEFAULT_MESSAGE: Partial<Record<ErrorCode, string>> = {
  bad_request: 'Bad Request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Resource not found',
};

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string, details?: unknown) {
  const error: Record<string, unknown> = { code, message };
  if (details !== undefined) error.details = details;
  return reply.code(status).type('application/json').send({ error, meta: meta(request) });
}

/** Maps anything thrown in a route to the error envelope; never lets a client see a raw 5xx. */
export function adminErrorHandler(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    const message = error.code === 'not_found' ? 'Resource not found' : error.message;
    return sendError(request, reply, STATUS[error.code], error.code, message, error.details);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const details = validationDetails(fastifyError.validation as any);
    return sendError(request, reply, 400, 'bad_request', 'Invalid request parameters', details);
  }
  const status = fastifyError.statusCode ?? 500;
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return sendError(request, reply, 400, 'bad_request', 'Invalid request parameters', { '': ['Invalid JSON body'] });
  }
  if (status === 413) return sendError(request, reply, 413, 'payload_too_large', 'Request body is too large');
  if (status === 429) return sendError(request, reply, 429, 'too_many_requests', 'Too many requests; retry after the number of seconds in Retry-After');
  if (status === 415) return sendError(request, reply, 415, 'unsupported_media_type', 'Unsupported Media Type');
  if (status >= 400 && status < 500) return sendError(request, reply, status, 'bad_request', DEFAULT_MESSAGE.bad_request!);
  request.log.error({ err: error }, 'unhandled error');
  return sendError(request, reply, 500, 'internal_server_error', 'Internal Server Error');
}

export function adminNotFound(request: FastifyRequest, reply: FastifyReply) {
  return sendError(request, reply, 404, 'not_found', 'Resource not found');
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([^\s,]+)$/.exec(header);
  return match ? match[1]! : null;
}

export interface AdminKeys {
  masterKey: string;
  apiKey: string;
  metricsKey: string;
}

/** Installs key auth (onRequest, before validation) and the degraded gate (after validation). */
export function installAdminGuards(app: FastifyInstance, keys: AdminKeys, isDegraded: () => boolean) {
  app.addHook('onRequest', async (request, reply) => {
    const auth = request.routeOptions.config?.auth ?? 'api';
    if (auth === 'public' || auth === 'face') return;
    const token = bearer(request);
    const accepted = auth === 'metrics' ? [keys.metricsKey, keys.masterKey] : [keys.apiKey, keys.masterKey];
    // Evaluate every candidate so timing does not reveal which key matched.
    const match = token !== null && accepted.map((k) => constantTimeEqual(token, k)).includes(true);
    if (!match) return sendError(request, reply, 401, 'unauthorized', 'Unauthorized');
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config?.degradedGate && isDegraded()) {
      return sendError(request, reply, 503, 'degraded_mode', 'Cluster is in degraded mode (over capacity) — try again when capacity recovers');
    }
  });
}
