/**
 * Wire conventions of the Core node API (`/node/*`, specs/core-node.md): NestJS-style errors
 * `{statusCode, message, error}` (message is a list for validation failures), and node
 * authentication by the `x-node-auth-key` header (looked up by SHA-256, never compared as a secret).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../../errors.ts';
import { validationDetails } from '../../http/validation.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated Core node (inventory id and its integer Core id). */
    coreNode: { nodeId: string; coreId: number } | null;
  }
  interface FastifyContextConfig {
    /** `public` = no x-node-auth-key (only /node/register). */
    coreAuth?: 'key' | 'public';
  }
}

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  validation_failed: 400,
  degraded_mode: 503,
  service_unavailable: 503,
};

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendCoreError(reply: FastifyReply, status: number, message: string | string[]) {
  return reply.code(status).type('application/json').send({ statusCode: status, message, error: REASON[status] ?? 'Error' });
}

function flatten(details: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [field, value] of Object.entries(details)) {
    const path = prefix ? `${prefix}.${field}` : field;
    if (Array.isArray(value)) for (const m of value) out.push(path ? `${path}: ${m}` : String(m));
    else if (value && typeof value === 'object') out.push(...flatten(value as Record<string, unknown>, path));
  }
  return out;
}

export function coreErrorHandler(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    return sendCoreError(reply, STATUS[error.code], error.details ? flatten(error.details) : error.message);
  }
  if (error.validation) {
    const details = validationDetails(error.validation as any);
    return sendCoreError(reply, 400, flatten(details).map((m) => m.replace(/^\//, '')));
  }
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return sendCoreError(reply, 400, 'Invalid JSON body');
  }
  if (status === 413) return sendCoreError(reply, 413, 'Request body is too large');
  if (status === 429) return sendCoreError(reply, 429, 'Too many requests; retry after the number of seconds in Retry-After');
  if (status >= 400 && status < 500) return sendCoreError(reply, status, error.message);
  request.log.error({ err: error }, 'unhandled error');
  return sendCoreError(reply, 500, 'Internal server error');
}

/** Installs x-node-auth-key auth (onRequest, before validation) on a /node scope. */
export function installCoreNodeAuth(app: FastifyInstance, authenticate: (key: string) => Promise<{ nodeId: string; coreId: number } | null>) {
  app.decorateRequest('coreNode', null);
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config?.coreAuth ?? 'key') === 'public') return;
    const key = request.headers['x-node-auth-key'];
    const node = typeof key === 'string' && key.length > 0 && key.length <= 512 ? await authenticate(key) : null;
    if (!node) return sendCoreError(reply, 401, 'Invalid or missing node auth key');
    request.coreNode = node;
  });
}

export const coreNodeOf = (request: FastifyRequest) => request.coreNode!;
