/**
 * `GET /api/v1/admins/me/metrics` and its raw Prometheus form (edge-admin spec §5, §12.3): behind
 * METRICS_KEY, every contract block present, the application block from this Node.js process,
 * nodes counted from the database, job queues from the jobs table, and counters other modules
 * register picked up by name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter, Gauge } from 'prom-client';
import { registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import type { ApiClient } from '../helpers/server.ts';

const API_KEY = 'api-key-for-admin-metrics-test';
const METRICS_KEY = 'metrics-key-for-admin-metrics-test';

/** The blocks of the contract's AdminMetricsResponse example, in full. */
const CONTRACT_BLOCKS = [
  'application',
  'commands',
  'discovery',
  'event_broker',
  'gateways',
  'membership',
  'metadata',
  'nodes',
  'oban_queues',
  'proxy',
  'quantum',
  'reconciliation',
  'self_updates',
  'ssh',
  'timestamp',
  'vpn',
  'webhook',
];
const CONTRACT_APPLICATION = [
  'atom_count',
  'ets_count',
  'memory_atom_bytes',
  'memory_atom_mb',
  'memory_binary_bytes',
  'memory_binary_mb',
  'memory_code_bytes',
  'memory_code_mb',
  'memory_ets_bytes',
  'memory_ets_mb',
  'memory_processes_bytes',
  'memory_processes_mb',
  'memory_total_bytes',
  'memory_total_mb',
  'port_count',
  'process_count',
  'uptime_human',
  'uptime_seconds',
];

for (const engine of testEngines()) {
  describe(`admin metrics [${engine}]`, () => {
    let server: TestServer;
    let metrics: ApiClient;
    before(async () => {
      server = await startServer(engine, { API_KEY, METRICS_KEY });
      metrics = server.api.withToken(METRICS_KEY);
    });
    after(() => server.stop());

    it('answers METRICS_KEY and MASTER_KEY only', async () => {
      for (const path of ['/api/v1/admins/me/metrics', '/api/v1/admins/me/metrics/raw']) {
        assert.equal((await metrics.get(path)).status, 200, path);
        assert.equal((await server.api.get(path)).status, 200, `${path} with the master key`);
        assert.equal((await server.api.withToken(API_KEY).get(path)).status, 401, `${path} with the API key`);
        assert.equal((await server.api.withToken(null).get(path)).status, 401, `${path} without a key`);
        assert.equal((await metrics.get(`${path}?x=1`)).status, 400);
      }
    });

    it('has every contract block, the application block from this process, and real counts', async () => {
      const cluster = await createCluster(server.api);
      const first = await registerAgent(server.api, { cluster: cluster.name });
      await registerAgent(server.api, { cluster: cluster.name });
      await first.client.request('PATCH', '/api/v1/agents/nodes/me/health_check', { body: { status: 'unhealthy' } });

      const res = await metrics.get('/api/v1/admins/me/metrics');
      assert.equal(res.status, 200);
      const data = res.body.data;
      assert.deepEqual(Object.keys(data).sort(), CONTRACT_BLOCKS);
      for (const key of CONTRACT_APPLICATION) assert.ok(key in data.application, key);
      const app = data.application;
      assert.ok(app.uptime_seconds >= 0 && app.uptime_seconds <= process.uptime() + 1);
      assert.equal(typeof app.uptime_human, 'string');
      assert.ok(Math.abs(app.memory_total_bytes - process.memoryUsage().rss) / app.memory_total_bytes < 0.5);
      assert.equal(app.memory_total_mb, Math.round((app.memory_total_bytes / 1048576) * 100) / 100);
      assert.ok(app.memory_processes_bytes > 0 && app.memory_processes_bytes <= app.heap_total_bytes);
      assert.equal(app.atom_count, null, 'no BEAM here');
      assert.equal(app.node_version, process.version);
      assert.ok(app.event_loop_delay_p99_ms === null || app.event_loop_delay_p99_ms >= 0);
      assert.ok(app.event_loop_utilization >= 0 && app.event_loop_utilization <= 1);
      assert.ok(app.port_count >= 1, 'the listening socket at least');
      assert.match(data.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      assert.equal(data.nodes.total, 2);
      assert.deepEqual(data.nodes.by_status, { healthy: 1, unhealthy: 1 });
      assert.equal(data.nodes.health_checks_total, 1);
      assert.deepEqual(data.metadata, { assigned_clusters: 1, degraded: false, orphaned_clusters: 0, recomputations_total: null });
      assert.deepEqual(data.event_broker, { enabled: false, enqueues_total: 0, publishes_error_total: 0, publishes_ok_total: 0, publishes_total: 0 });
      assert.ok(data.webhook.fan_outs_total >= 4, 'verify ×2, registered ×2');
      assert.equal(data.webhook.deliveries_total, 0);
      assert.deepEqual(data.ssh, { verifications_failed: 0, verifications_total: 0 });
      assert.equal(data.proxy.connections_total, null, 'no forward proxy here');
      const delivery = data.oban_queues.find((q: any) => q.queue === 'webhook_delivery');
      assert.deepEqual(delivery, {
        queue: 'webhook_delivery',
        available: 0,
        scheduled: 0,
        executing: 0,
        retryable: 0,
        completed: 0,
        discarded: 0,
        cancelled: 0,
      });
    });

    it('picks up counters that other modules register, by name', async () => {
      const registry = server.ctx.nodeMetrics.registry;
      const ssh = new Counter({ name: 'nodeplane_ssh_verifications_total', help: 'test', labelNames: ['result'], registers: [registry] });
      ssh.inc({ result: 'success' }, 5);
      ssh.inc({ result: 'failure' }, 2);
      new Counter({ name: 'nodeplane_command_executions_completed_total', help: 'test', registers: [registry] }).inc(7);
      new Gauge({ name: 'nodeplane_command_delivery_last_delivered', help: 'test', registers: [registry] }).set(3);
      new Counter({ name: 'nodeplane_gateways_connections_total', help: 'test', registers: [registry] }).inc(4);
      const data = (await metrics.get('/api/v1/admins/me/metrics')).body.data;
      assert.deepEqual(data.ssh, { verifications_failed: 2, verifications_total: 7 });
      assert.equal(data.commands.execution_completed_total, 7);
      assert.equal(data.commands.delivery_delivered_count, 3);
      assert.equal(data.commands.delivery_total, 0);
      assert.deepEqual(data.gateways, { active_count: null, connections_total: 4, scrapes_total: null });
    });

    it('serves the whole registry as Prometheus text', async () => {
      const res = await metrics.get('/api/v1/admins/me/metrics/raw');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      for (const name of [
        'nodeplane_webhook_deliveries_total{outcome="ok"} 0',
        'nodeplane_webhook_fan_outs_total',
        'nodeplane_http_requests_total',
        'process_cpu_user_seconds_total',
      ]) {
        assert.ok(res.text.includes(name), name);
      }
      assert.equal(res.text, res.text.trimStart());
    });
  });
}
