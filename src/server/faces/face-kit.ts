/**
 * What every face shares: one error pipeline, one token parser and a principal on every request.
 *
 * The pipeline sorts anything a route, hook or body parser throws into one `Failure` (a domain
 * AppError, failed validation, unparsable JSON, a body too large, an unsupported content type, a
 * rate-limit refusal, an unknown route, another client error, or a fault), once; a face gives only
 * the status number of each AppError code and a renderer that writes a failure in its own wire
 * format. A face's authenticator turns the request's credential into a principal, or refuses it
 * with an AppError that the same pipeline renders, so a 401 looks like every other error of the face.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../errors.ts';
import { validationDetails } from '../http/validation.ts';
import { type NodePrincipal, type Principal, PUBLIC, type Role } from '../principal.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: `public` until the face's authenticator says otherwise. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /**
     * The credential a route needs: `public` = none (the principal stays public); absent = the
     * face's own (Admin API: the API key; agents: the node token; Core: the node auth key).
     * `metrics` = the Admin API's metrics key.
     */
    auth?: 'api' | 'metrics' | 'public';
    /**
     * The lowest operator role a route admits (faces with operators: the Admin API, the manager).
     * Absent = `viewer` for reads (GET/HEAD), `admin` for everything else.
     */
    role?: Role;
  }
}

export type Failure =
  | { kind: 'app'; status: number; error: AppError }
  | { kind: 'validation'; status: 400; details: Record<string, string[]> }
  | { kind: 'invalid_json'; status: 400 }
  | { kind: 'too_large'; status: 413 }
  | { kind: 'unsupported_media_type'; status: 415; message: string }
  | { kind: 'rate_limited'; status: 429 }
  | { kind: 'not_found'; status: 404 }
  | { kind: 'client'; status: number; message: string }
  | { kind: 'internal'; status: 500 };

export interface FaceErrors {
  /** The HTTP status of each domain error code on this face. */
  status: Record<ErrorCode, number>;
  /** Writes the failure in the face's envelope; must send the reply. */
  render(failure: Failure, request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply>;
}

/** The status map most faces use; a face overrides only what its protocol says differently. */
export const DEFAULT_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  validation_failed: 422,
  degraded_mode: 503,
  service_unavailable: 503,
  node_unreachable: 502,
  node_timeout: 504,
  command_failed: 422,
};

const INVALID_JSON = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY']);

export function classify(error: unknown, status: Record<ErrorCode, number>): Failure {
  if (error instanceof AppError) return { kind: 'app', status: status[error.code], error };
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return { kind: 'validation', status: 400, details: validationDetails(fastifyError.validation as any) };
  if (INVALID_JSON.has(fastifyError.code ?? '') || error instanceof SyntaxError) return { kind: 'invalid_json', status: 400 };
  const code = fastifyError.statusCode ?? 500;
  const message = fastifyError.message ?? '';
  if (code === 413) return { kind: 'too_large', status: 413 };
  if (code === 415) return { kind: 'unsupported_media_type', status: 415, message };
  if (code === 429) return { kind: 'rate_limited', status: 429 };
  if (code >= 400 && code < 500) return { kind: 'client', status: code, message };
  return { kind: 'internal', status: 500 };
}

function errorHandler(face: FaceErrors) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const failure = classify(error, face.status);
    if (failure.kind === 'internal') request.log.error({ err: error }, 'unhandled error');
    return face.render(failure, request, reply);
  };
}

/** Makes a face scope render its errors; routes and hooks inside it just throw. */
export function installFace(scope: FastifyInstance, face: FaceErrors): void {
  scope.setErrorHandler(errorHandler(face));
}

/**
 * On the root instance: every request starts public, and the root face answers unknown routes and
 * errors of routes outside any face (health, OpenAPI, /metrics).
 */
export function installFaceKit(app: FastifyInstance, root: FaceErrors): void {
  // Fastify refuses object defaults (one object shared by every request); the hook sets the frozen PUBLIC.
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (request) => {
    request.principal = PUBLIC;
  });
  installFace(app, root);
  app.setNotFoundHandler((request, reply) => root.render({ kind: 'not_found', status: 404 }, request, reply));
}

/** Where a face reads its credential: a header, optionally behind an auth scheme. */
export interface TokenSource {
  header: string;
  /** `Bearer` for `Authorization: Bearer <token>`; absent = the whole header value is the token. */
  scheme?: string;
  /** Longer values are no token at all (they are never looked up). */
  maxLength?: number;
}

const BEARER: TokenSource = { header: 'authorization', scheme: 'Bearer' };

const schemePattern = new Map<string, RegExp>();

/** The one token parser: the credential in `source`, or null when it is absent or malformed. */
export function readToken(request: FastifyRequest, source: TokenSource = BEARER): string | null {
  const value = request.headers[source.header];
  if (typeof value !== 'string') return null;
  let token: string = value;
  if (source.scheme) {
    let pattern = schemePattern.get(source.scheme);
    if (!pattern) schemePattern.set(source.scheme, (pattern = new RegExp(`^${source.scheme} ([^\\s,]+)$`)));
    const match = pattern.exec(value);
    if (!match) return null;
    token = match[1]!;
  }
  if (token.length === 0 || (source.maxLength !== undefined && token.length > source.maxLength)) return null;
  return token;
}

/**
 * Installs a face's authenticator (onRequest, so nothing is parsed or validated for a stranger):
 * a route marked `auth: 'public'` keeps the public principal; on any other the authenticator's
 * principal is set, or the request is refused with `refusal()` in the face's format.
 */
export function installAuthenticator(
  scope: FastifyInstance,
  authenticate: (request: FastifyRequest, need: 'api' | 'metrics') => Promise<Principal | null>,
  refusal: () => AppError,
): void {
  scope.addHook('onRequest', async (request) => {
    const need = request.routeOptions.config?.auth ?? 'api';
    if (need === 'public') return;
    const principal = await authenticate(request, need);
    if (!principal) throw refusal();
    request.principal = principal;
  });
}

const READS = new Set(['GET', 'HEAD']);

/** The role a route needs: its own `role`, else viewer for reads and admin for writes. */
export function requiredRole(request: FastifyRequest): Role {
  return request.routeOptions.config?.role ?? (READS.has(request.method) ? 'viewer' : 'admin');
}

/** The calling node on a route whose authenticator admits only nodes. */
export function nodeOf(request: FastifyRequest): NodePrincipal {
  const principal = request.principal;
  // A route mounted behind the wrong authenticator is a programming error, not the client's.
  if (principal?.type !== 'node') throw new Error(`route ${request.routeOptions.url} expects a node caller, got ${principal?.type}`);
  return principal;
}
