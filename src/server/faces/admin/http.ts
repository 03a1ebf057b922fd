/**
 * The Admin API's wire conventions (edge-admin spec §1–2, §5): `{data, meta}` envelopes, the error
 * envelope and its codes, boot-key auth and the degraded-mode gate. Routes stay one-liners.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, DegradedModeError } from '../../errors.ts';
import type { Page } from '../../db/listing.ts';
import { microsecondTimestamp } from '../../lib/time.ts';
import { constantTimeEqual } from '../../lib/secrets.ts';
import type { ApiKeyPrincipal, OperatorPrincipal, Principal } from '../../principal.ts';
import { hasRole } from '../../access.ts';
import { DEFAULT_STATUS, type FaceErrors, installAuthenticator, readToken, requiredRole } from '../face-kit.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
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

export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string, details?: unknown) {
  const error: Record<string, unknown> = { code, message };
  if (details !== undefined) error.details = details;
  return reply
    .code(status)
    .type('application/json')
    .send({ error, meta: meta(request) });
}

/** The Admin API's error envelope; the agents face speaks it too (edge-admin spec §6). */
export const adminErrors: FaceErrors = {
  status: DEFAULT_STATUS,
  render(failure, request, reply) {
    const send = (status: number, code: string, message: string, details?: unknown) => sendError(request, reply, status, code, message, details);
    switch (failure.kind) {
      case 'app': {
        const { code, message, details } = failure.error;
        return send(failure.status, code, code === 'not_found' ? 'Resource not found' : message, details);
      }
      case 'validation':
        return send(400, 'bad_request', 'Invalid request parameters', failure.details);
      case 'invalid_json':
        return send(400, 'bad_request', 'Invalid request parameters', { '': ['Invalid JSON body'] });
      case 'too_large':
        return send(413, 'payload_too_large', 'Request body is too large');
      case 'rate_limited':
        return send(429, 'too_many_requests', 'Too many requests; retry after the number of seconds in Retry-After');
      case 'unsupported_media_type':
        return send(415, 'unsupported_media_type', 'Unsupported Media Type');
      case 'not_found':
        return send(404, 'not_found', 'Resource not found');
      case 'client':
        return send(failure.status, 'bad_request', 'Bad Request');
      case 'internal':
        return send(500, 'internal_server_error', 'Internal Server Error');
    }
  },
};

export interface AdminKeys {
  masterKey: string;
  apiKey: string;
  metricsKey: string;
}

/**
 * The boot key a bearer token is: the master key is accepted everywhere, the API key on `api`
 * routes, the metrics key on `metrics` routes. Every candidate is compared, so timing does not
 * reveal which one matched.
 */
function apiKeyPrincipal(token: string | null, need: 'api' | 'metrics', keys: AdminKeys): ApiKeyPrincipal | null {
  if (token === null) return null;
  const candidates: Array<[ApiKeyPrincipal['key'], string]> = [
    ['master', keys.masterKey],
    need === 'metrics' ? ['metrics', keys.metricsKey] : ['api', keys.apiKey],
  ];
  const matched = candidates.map(([name, key]) => (constantTimeEqual(token, key) ? name : null));
  const key = matched.find((name) => name !== null);
  return key ? { type: 'api-key', key } : null;
}

/** How operators prove themselves (the operators module's AuthService). */
export interface OperatorAuthenticator {
  authenticateSession(cookie: string): Promise<OperatorPrincipal | null>;
  authenticateToken(token: string): Promise<OperatorPrincipal | null>;
}

export interface AdminAuthDeps {
  keys: AdminKeys;
  operators: OperatorAuthenticator;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Longer bearer values or cookies are no credential at all (never hashed or looked up). */
const MAX_CREDENTIAL_LENGTH = 512;

/**
 * The Admin API's one authenticator (also the metrics routes' and the manager face's): `Authorization: Bearer` is a boot
 * key (compared in memory, so boot keys never reach the database) or else an operator's API
 * token; without a bearer, the `session` cookie. A cookie request that changes state must repeat
 * the session's CSRF token in `X-CSRF-Token` (403 otherwise); bearer requests need none, since a
 * browser never attaches them on its own.
 */
export async function authenticateOperator(request: FastifyRequest, need: 'api' | 'metrics', deps: AdminAuthDeps): Promise<Principal | null> {
  const bearer = readToken(request);
  if (bearer !== null) {
    const bootKey = apiKeyPrincipal(bearer, need, deps.keys);
    if (bootKey || bearer.length > MAX_CREDENTIAL_LENGTH) return bootKey;
    return deps.operators.authenticateToken(bearer);
  }
  if (request.headers.authorization !== undefined) return null;
  const cookie = request.cookies?.session;
  if (!cookie || cookie.length > MAX_CREDENTIAL_LENGTH) return null;
  const principal = await deps.operators.authenticateSession(cookie);
  if (principal?.credential.kind === 'session' && STATE_CHANGING.has(request.method)) {
    const header = request.headers['x-csrf-token'];
    if (typeof header !== 'string' || header === '' || !constantTimeEqual(header, principal.credential.csrfToken)) {
      throw new AppError('forbidden', 'Missing or invalid CSRF token (send the csrf_token cookie back in X-CSRF-Token)');
    }
  }
  return principal;
}

/** Operator and boot-key auth for a scope of Admin API routes (and the root /metrics), then the role gate. */
export function installAdminAuth(scope: FastifyInstance, deps: AdminAuthDeps) {
  installAuthenticator(
    scope,
    (request, need) => authenticateOperator(request, need, deps),
    () => new AppError('unauthorized', 'Unauthorized'),
  );
  installRoleGate(scope);
}

/**
 * Refuses a caller whose role is below the route's (`config.role`, by default viewer for reads and
 * admin for writes) before the body is parsed, so a denied write neither validates nor stores.
 */
export function installRoleGate(scope: FastifyInstance) {
  scope.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.auth === 'public') return;
    const required = requiredRole(request);
    if (!hasRole(request.principal, required)) throw new AppError('forbidden', `This requires the ${required} role`);
  });
}

/** Routes marked `degradedGate` are refused with 503 while the admin cluster is over capacity (after validation). */
export function installDegradedGate(scope: FastifyInstance, isDegraded: () => boolean) {
  scope.addHook('preHandler', async (request) => {
    if (request.routeOptions.config?.degradedGate && isDegraded()) throw new DegradedModeError();
  });
}
