import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { LoginFormRequest, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, UserInfo } from '../../../contract/admin/operators.ts';
import { Single } from '../../../contract/types.ts';
import type { AppContext } from '../../context.ts';
import type { LoginOutcome } from '../../modules/operators/auth.service.ts';
import { classify, DEFAULT_STATUS } from '../face-kit.ts';
import { ok } from './http.ts';

const tags = ['Auth'];

/** The form login takes small bodies only: two credentials and a path. */
const FORM_BODY_LIMIT = 8 * 1024;

/** The spec's login answer for each outcome (manager spec §5.1). */
const REFUSALS: Record<Exclude<LoginOutcome, { ok: true }>['reason'], [number, string]> = {
  malformed: [400, 'Invalid credentials'],
  rate_limited: [429, 'Too many login attempts. Try again later.'],
  invalid: [401, 'Invalid credentials'],
  disabled: [401, 'Account is disabled'],
  expired: [401, 'Account has expired'],
};

const refusal = (error: string) => ({ success: false, csrf_token: null, user: null, error });

/** `session` (HttpOnly) and `csrf_token` (readable by the dashboard's scripts), Secure over TLS. */
function setSessionCookies(request: FastifyRequest, reply: FastifyReply, session: string, csrf: string, maxAge: number) {
  const common = { path: '/', sameSite: 'lax' as const, maxAge, secure: request.protocol === 'https' };
  reply.setCookie('session', session, { ...common, httpOnly: true });
  reply.setCookie('csrf_token', csrf, common);
}

const loginInput = (request: FastifyRequest, body: { username: string; password: string }) => ({
  username: body.username,
  password: body.password,
  ip: request.ip,
  userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : null,
});

/** Only a path on this server: one leading slash, no backslash or whitespace (browsers read `/\\x` as `//x`). */
const SAFE_NEXT = /^\/(?![/\\])[^\\\s]*$/;

/**
 * Sign-in (manager spec §5.1), on the Admin API and the manager face alike. Login answers in the spec's own body shape, whatever happened
 * (bad JSON included); the form login always redirects. Sessions are opaque random tokens kept
 * (hashed) in the database, not the spec's JWT: revocation, restarts and several instances need
 * the database anyway.
 */
export const signInRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/auth/login',
      {
        schema: {
          tags,
          summary: 'Sign in: sets the session and csrf_token cookies (5 attempts per address per minute)',
          security: [],
          body: LoginRequest,
          response: { 200: LoginResponse, 400: LoginResponse, 401: LoginResponse, 429: LoginResponse },
        },
        config: { auth: 'public' },
        errorHandler(error, request, reply) {
          const failure = classify(error, DEFAULT_STATUS);
          if (failure.kind === 'internal') request.log.error({ err: error }, 'login failed');
          const message =
            failure.kind === 'internal'
              ? 'Internal error'
              : failure.kind === 'validation'
                ? `Invalid request: ${Object.entries(failure.details)
                    .map(([field, problems]) => `${field || 'body'}: ${problems.join(', ')}`)
                    .join('; ')}`
                : 'Invalid request: send {"username", "password"} as JSON';
          return (reply as FastifyReply).code(failure.status).type('application/json').send(refusal(message));
        },
      },
      async (req, reply) => {
        const outcome = await ctx.operators.auth.login(loginInput(req, req.body));
        if (!outcome.ok) {
          const [status, message] = REFUSALS[outcome.reason];
          return reply.code(status as 401).send(refusal(message));
        }
        // The audit trail names the operator who just signed in.
        req.principal = outcome.principal;
        setSessionCookies(req, reply, outcome.sessionToken, outcome.csrfToken, outcome.maxAgeSeconds);
        return { success: true, csrf_token: outcome.csrfToken, user: outcome.user, error: null };
      },
    );

    await app.register(async (scope) => {
      const form = scope.withTypeProvider<TypeBoxTypeProvider>();
      form.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_req, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
      );
      form.post(
        '/auth/login-form',
        {
          schema: {
            tags,
            summary: 'Sign in from an HTML form: 303 to `next` (or /dashboard) with the cookies, or to /login?error=…',
            security: [],
            consumes: ['application/x-www-form-urlencoded'],
            body: LoginFormRequest,
            response: { 303: Type.Null({ description: 'Redirect (Location)' }) },
          },
          config: { auth: 'public' },
          errorHandler(error, request, reply) {
            const internal = classify(error, DEFAULT_STATUS).kind === 'internal';
            if (internal) request.log.error({ err: error }, 'form login failed');
            return reply.redirect(`/login?error=${internal ? 'internal' : 'invalid'}`, 303);
          },
        },
        async (req, reply) => {
          const outcome = await ctx.operators.auth.login(loginInput(req, req.body));
          if (!outcome.ok) return reply.redirect(`/login?error=${outcome.reason === 'rate_limited' ? 'rate_limited' : 'invalid'}`, 303);
          req.principal = outcome.principal;
          setSessionCookies(req, reply, outcome.sessionToken, outcome.csrfToken, outcome.maxAgeSeconds);
          const next = req.body.next;
          return reply.redirect(next !== undefined && SAFE_NEXT.test(next) ? next : '/dashboard', 303);
        },
      );
    });

    app.post(
      '/auth/logout',
      {
        schema: {
          tags,
          summary: 'Sign out: revokes the session and clears both cookies (session + X-CSRF-Token)',
          body: LogoutRequest,
          response: { 200: LogoutResponse },
        },
        config: { role: 'viewer' },
      },
      async (req, reply) => {
        await ctx.operators.auth.logout(req.principal);
        const common = { path: '/', sameSite: 'lax' as const, maxAge: 0, secure: req.protocol === 'https' };
        reply.setCookie('session', '', { ...common, httpOnly: true });
        reply.setCookie('csrf_token', '', common);
        return { success: true };
      },
    );
  };

/** Sign-in plus the Admin API's `/auth/me` (the manager face serves sign-in alone). */
export const authRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    await app.register(signInRoutes(ctx));

    app.get(
      '/auth/me',
      {
        schema: { tags, summary: 'The signed-in operator (boot keys are no operator: 404)', response: { 200: Single(UserInfo) } },
        config: { role: 'viewer' },
      },
      async (req) => ok(req, await ctx.operators.users.me(req.principal)),
    );
  };
