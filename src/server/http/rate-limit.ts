/**
 * Rate limits of the routes anyone can call: enrollment-key verify, agent and Core registration,
 * the public enrollment key and subscription links. Counted per client IP and route in memory, so
 * each instance counts on its own (N instances admit N × the limit). The 429 is thrown to the
 * route's error handler, which renders it in the face's own format; `Retry-After` is set here.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { Config } from '../config.ts';

/** Distinct clients remembered per instance; the least recently seen are forgotten first. */
const TRACKED_CLIENTS = 10_000;

export class RateLimitedError extends Error {
  readonly statusCode = 429;
  readonly code = 'FST_RATE_LIMITED';
}

export async function installRateLimits(app: FastifyInstance): Promise<void> {
  // Registered before any route: its onRoute hook attaches the limiter to routes that ask for one.
  await app.register(rateLimit, {
    global: false,
    cache: TRACKED_CLIENTS,
    // Headers only on refusals: a normal answer stays as it was.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
    errorResponseBuilder: (_request, context) => new RateLimitedError(`Too many requests, retry in ${context.after}`),
  });
}

/** Route config for an unauthenticated enrollment or registration route; `false` when disabled. */
export function publicRateLimit(config: Config): RateLimitOptions | false {
  if (config.rateLimitPublicMax === 0) return false;
  return { max: config.rateLimitPublicMax, timeWindow: config.rateLimitPublicWindowMs };
}

/**
 * Subscription links: many VPN users share one carrier-NAT address, so the count is per address
 * and link. Guessing links is hopeless (122 random bits); this stops one client hammering the
 * rendering of a real link.
 */
export function subscriptionRateLimit(config: Config): RateLimitOptions | false {
  if (config.rateLimitSubscriptionMax === 0) return false;
  return {
    max: config.rateLimitSubscriptionMax,
    timeWindow: config.rateLimitPublicWindowMs,
    keyGenerator: (request: FastifyRequest) => `${request.ip}|${(request.params as { linkUuid?: string }).linkUuid ?? ''}`,
  };
}
