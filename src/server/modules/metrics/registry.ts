/**
 * The control plane's own Prometheus registry, served at GET /metrics. One registry per context (not
 * prom-client's global one) so several servers in one process — the test suite — never collide.
 * Later features add their counters to `ctx.nodeMetrics.registry`.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export function createServerRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Returns the metric already registered under `name`, or registers the one `create` builds. */
export function metricOnce<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

type HttpLabels = 'method' | 'route' | 'status_code';

const installed = new WeakSet<FastifyInstance>();

/**
 * Counts every response of `app` by method, route pattern and status. Must be called on the root
 * instance: hooks added inside an encapsulated plugin only see that plugin's routes. The route
 * pattern (not the URL) is the label so ids in paths cannot blow up the series count.
 */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  if (installed.has(app)) return;
  installed.add(app);
  const requests = metricOnce(
    registry,
    'nodeplane_http_requests_total',
    () =>
      new Counter<HttpLabels>({
        name: 'nodeplane_http_requests_total',
        help: 'HTTP requests answered, by method, route pattern and status code',
        labelNames: ['method', 'route', 'status_code'],
        registers: [registry],
      }),
  );
  const duration = metricOnce(
    registry,
    'nodeplane_http_request_duration_seconds',
    () =>
      new Histogram<HttpLabels>({
        name: 'nodeplane_http_request_duration_seconds',
        help: 'Time from receiving a request to finishing its response, by method, route pattern and status code',
        labelNames: ['method', 'route', 'status_code'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
  );
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
}
