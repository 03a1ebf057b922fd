/**
 * The manager face's wire conventions (manager spec §5): `{"error": "..."}` on every failure, the
 * manager's security headers on every answer, and the operators' authentication (the Admin API's
 * own: session cookie with the CSRF rule, or `Authorization: Bearer` API token or boot key) with
 * the route's `role` checked before the body is parsed.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { DEFAULT_STATUS, type FaceErrors, installAuthenticator } from '../face-kit.ts';
import { type AdminAuthDeps, authenticateOperator, installRoleGate } from '../admin/http.ts';

export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The listener always terminates TLS itself (the manager's direct mode).
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
} as const;

const describe = (details: Record<string, unknown>): string =>
  Object.entries(details)
    .map(([field, messages]) => {
      const text = Array.isArray(messages)
        ? messages.join(', ')
        : typeof messages === 'object' && messages
          ? describe(messages as Record<string, unknown>)
          : String(messages);
      return field ? `${field}: ${text}` : text;
    })
    .join('; ');

export const managerErrors: FaceErrors = {
  // The manager answers bad input with 400 whatever the rule (§5.2); nothing here is a 422.
  status: { ...DEFAULT_STATUS, validation_failed: 400 },
  render(failure, _request, reply) {
    const send = (status: number, error: string, errorCode?: unknown) =>
      reply
        .code(status)
        .type('application/json')
        .send(typeof errorCode === 'string' ? { error, error_code: errorCode } : { error });
    switch (failure.kind) {
      case 'app': {
        const { message, details } = failure.error;
        // A node's refusal code and the role refusal's `insufficient_role` travel with the message.
        const errorCode = 'errorCode' in failure.error ? failure.error.errorCode : undefined;
        return send(failure.status, details ? `${message}: ${describe(details)}` : message, errorCode);
      }
      case 'validation':
        return send(400, `Invalid request: ${describe(failure.details)}`);
      case 'invalid_json':
        return send(400, 'Invalid JSON body');
      case 'too_large':
        return send(413, 'Payload too large');
      case 'rate_limited':
        return send(429, 'Too many requests');
      case 'unsupported_media_type':
        return send(415, 'Unsupported Media Type');
      case 'not_found':
        return send(404, 'Not found');
      case 'client':
        return send(failure.status, 'Bad Request');
      case 'internal':
        return send(500, 'Internal Server Error');
    }
  },
};

/** On the manager app's root: every answer, errors and upgrades' refusals included, carries the headers. */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
}

export function installManagerAuth(scope: FastifyInstance, deps: AdminAuthDeps): void {
  installAuthenticator(
    scope,
    (request, need) => authenticateOperator(request, need, deps),
    () => new AppError('unauthorized', 'Unauthorized'),
  );
  installRoleGate(scope);
}
