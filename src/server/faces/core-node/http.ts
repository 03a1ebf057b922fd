/**
 * Wire conventions of the Core node API (`/node/*`, specs/core-node.md): NestJS-style errors
 * `{statusCode, message, error}` (message is a list for validation failures), and node
 * authentication by the `x-node-auth-key` header (looked up by SHA-256, never compared as a secret).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../errors.ts';
import type { NodePrincipal } from '../../principal.ts';
import { DEFAULT_STATUS, type FaceErrors, installAuthenticator, readToken, type TokenSource } from '../face-kit.ts';

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

function sendCoreError(reply: FastifyReply, status: number, message: string | string[]) {
  return reply
    .code(status)
    .type('application/json')
    .send({ statusCode: status, message, error: REASON[status] ?? 'Error' });
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

export const coreErrors: FaceErrors = {
  // NestJS answers every validation failure with 400.
  status: { ...DEFAULT_STATUS, validation_failed: 400 },
  render(failure, _request, reply) {
    switch (failure.kind) {
      case 'app':
        return sendCoreError(reply, failure.status, failure.error.details ? flatten(failure.error.details) : failure.error.message);
      case 'validation':
        return sendCoreError(
          reply,
          400,
          flatten(failure.details).map((m) => m.replace(/^\//, '')),
        );
      case 'invalid_json':
        return sendCoreError(reply, 400, 'Invalid JSON body');
      case 'too_large':
        return sendCoreError(reply, 413, 'Request body is too large');
      case 'rate_limited':
        return sendCoreError(reply, 429, 'Too many requests; retry after the number of seconds in Retry-After');
      case 'not_found':
        return sendCoreError(reply, 404, 'Not Found');
      case 'unsupported_media_type':
      case 'client':
        return sendCoreError(reply, failure.status, failure.message);
      case 'internal':
        return sendCoreError(reply, 500, 'Internal server error');
    }
  },
};

const NODE_AUTH_KEY: TokenSource = { header: 'x-node-auth-key', maxLength: 512 };

/** x-node-auth-key auth on the /node scope; routes marked `auth: 'public'` (only /node/register) need none. */
export function installCoreNodeAuth(scope: FastifyInstance, authenticate: (key: string) => Promise<NodePrincipal | null>) {
  installAuthenticator(
    scope,
    async (request) => {
      const key = readToken(request, NODE_AUTH_KEY);
      return key === null ? null : authenticate(key);
    },
    () => new AppError('unauthorized', 'Invalid or missing node auth key'),
  );
}
