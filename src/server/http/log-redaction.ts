/**
 * Subscription link UUIDs are credentials: whoever reads one from a log can import the user's VPN
 * profile. The request logger prints URLs (the access log, "Route … not found"), so every URL and
 * log message is scrubbed of `/sub/<link>` and of `link_uuid=` query values before it is written.
 */
const SUB_PATH = /\/sub\/[^/?#\s"']+/g;
const LINK_QUERY = /(link_uuid=)[^&#\s"']*/gi;

const redactUrl = (text: string): string => text.replace(SUB_PATH, '/sub/[redacted]').replace(LINK_QUERY, '$1[redacted]');

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer with the URL scrubbed. */
const req = (request: LoggedRequest) => ({
  method: request.method,
  url: redactUrl(request.url),
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort,
});

/** Adds the scrubbing to Fastify's `logger` option (true or pino options); false stays false. */
export function redactingLogger(logger: boolean | Record<string, unknown>): boolean | Record<string, unknown> {
  if (logger === false) return false;
  const options = logger === true ? {} : logger;
  return {
    ...options,
    serializers: { ...(options.serializers as object | undefined), req },
    hooks: {
      logMethod(this: unknown, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redactUrl(a) : a)),
        );
      },
    },
  };
}
