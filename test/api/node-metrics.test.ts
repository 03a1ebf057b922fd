import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.ts';
import { rootMetricsRoutes } from '../../src/server/faces/admin/node-metrics.routes.ts';
import { randomToken, tokenHash } from '../../src/server/lib/secrets.ts';
import { parsePrometheusText } from '../../src/server/modules/metrics/prometheus-text.ts';
import { installHttpMetrics } from '../../src/server/modules/metrics/registry.ts';
import { createCluster } from '../helpers/factories.ts';
import { ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';

const BOOT = 1736866739;

/** Trimmed from a real node_exporter 1.8 page: 4 CPUs, 8 GiB RAM, a 100 GiB root disk, 1d 1h 1m up. */
const NODE_EXPORTER_TEXT = `# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.4623e-05
go_gc_duration_seconds{quantile="0.5"} 3.9814e-05
go_gc_duration_seconds{quantile="1"} NaN
go_gc_duration_seconds_sum 0.012345
go_gc_duration_seconds_count 312
# HELP node_boot_time_seconds Node boot time, in unixtime.
# TYPE node_boot_time_seconds gauge
node_boot_time_seconds ${BOOT}
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
${['0', '1', '2', '3']
  .map((cpu) =>
    [
      ['idle', 7500],
      ['iowait', 100],
      ['irq', 0],
      ['nice', 0.5],
      ['softirq', 49.5],
      ['steal', 0],
      ['system', 600],
      ['user', 1750],
    ]
      .map(([mode, v]) => `node_cpu_seconds_total{cpu="${cpu}",mode="${mode}"} ${v}`)
      .join('\n'),
  )
  .join('\n')}
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 5.82490368e+10
node_filesystem_avail_bytes{device="/dev/sda15",fstype="vfat",mountpoint="/boot/efi"} 1.1700224e+08
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 8.27166720e+08
# HELP node_filesystem_size_bytes Filesystem size in bytes.
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1.073741824e+11
node_filesystem_size_bytes{device="/dev/sda15",fstype="vfat",mountpoint="/boot/efi"} 1.24852224e+08
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 8.58992640e+08
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 1.2
# HELP node_load15 15m load average.
# TYPE node_load15 gauge
node_load15 0.9
# HELP node_load5 5m load average.
# TYPE node_load5 gauge
node_load5 1.1
# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 2.814377984e+09
# HELP node_memory_MemFree_bytes Memory information field MemFree_bytes.
# TYPE node_memory_MemFree_bytes gauge
node_memory_MemFree_bytes 4.23624704e+08
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8.589934592e+09
# HELP node_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} 9.87654321e+09
node_network_receive_bytes_total{device="wg0"} 1.23456789e+08
# HELP node_scrape_collector_duration_seconds node_exporter: Duration of a collector scrape.
# TYPE node_scrape_collector_duration_seconds gauge
node_scrape_collector_duration_seconds{collector="cpu"} 0.000412345
# HELP node_time_seconds System time in seconds since epoch (1970).
# TYPE node_time_seconds gauge
node_time_seconds ${BOOT + 90061}.318
# HELP node_uname_info Labeled system information as provided by the uname system call.
# TYPE node_uname_info gauge
node_uname_info{domainname="(none)",machine="x86_64",nodename="edge-7",release="6.1.0-18-amd64",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"} 1
# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 4821
promhttp_metric_handler_requests_total{code="500"} 0
`;

/** What the Nodeplane agent's prom-client registry renders. */
const AGENT_TEXT = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 125829120
# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.
# TYPE nodejs_heap_size_used_bytes gauge
nodejs_heap_size_used_bytes 83886080
# HELP nodejs_external_memory_bytes Node.js external memory size in bytes.
# TYPE nodejs_external_memory_bytes gauge
nodejs_external_memory_bytes 2097152
# HELP nodejs_active_handles_total Total number of active handles.
# TYPE nodejs_active_handles_total gauge
nodejs_active_handles_total 342
# HELP nodeplane_agent_uptime_seconds Seconds since the agent started.
# TYPE nodeplane_agent_uptime_seconds gauge
nodeplane_agent_uptime_seconds 172800.734
# TYPE nodeplane_agent_commands_synced_total counter
nodeplane_agent_commands_synced_total 156
# TYPE nodeplane_agent_commands_enqueued_total counter
nodeplane_agent_commands_enqueued_total 152
# TYPE nodeplane_agent_commands_completed_total counter
nodeplane_agent_commands_completed_total 150
# TYPE nodeplane_agent_commands_reported_total counter
nodeplane_agent_commands_reported_total 150
# TYPE nodeplane_agent_discovery_scans_total counter
nodeplane_agent_discovery_scans_total 48
# TYPE nodeplane_agent_discovery_admins_found gauge
nodeplane_agent_discovery_admins_found 5
# TYPE nodeplane_agent_health_reports_total counter
nodeplane_agent_health_reports_total 0
# TYPE nodeplane_agent_proxy_bytes_up_total counter
nodeplane_agent_proxy_bytes_up_total 157286400
# TYPE nodeplane_agent_proxy_bytes_down_total counter
nodeplane_agent_proxy_bytes_down_total 943718400
# TYPE nodeplane_agent_proxy_http_connections_total counter
nodeplane_agent_proxy_http_connections_total 523
# TYPE nodeplane_agent_proxy_socks5_connections_total counter
nodeplane_agent_proxy_socks5_connections_total 87
# TYPE nodeplane_agent_ssh_authentications_total counter
nodeplane_agent_ssh_authentications_total{method="publickey"} 40
nodeplane_agent_ssh_authentications_total{method="password"} 5
# TYPE nodeplane_agent_ssh_connections_total counter
nodeplane_agent_ssh_connections_total 44
# TYPE nodeplane_agent_vpn_pulls_total counter
nodeplane_agent_vpn_pulls_total 7
# HELP nodeplane_agent_jobs Jobs by queue and state.
# TYPE nodeplane_agent_jobs gauge
nodeplane_agent_jobs{queue="default",state="available"} 0
nodeplane_agent_jobs{queue="default",state="executing"} 1
nodeplane_agent_jobs{queue="default",state="completed"} 245
nodeplane_agent_jobs{queue="default",state="retryable"} 0
nodeplane_agent_jobs{queue="default",state="discarded"} 1
nodeplane_agent_jobs{queue="commands",state="completed"} 150
`;

/** No trailing newline, CRLF, a tab, escapes and non-ASCII: raw reads must give back these exact bytes. */
const WIREGUARD_TEXT =
  '# HELP wireguard_received_bytes_total Bytes received from the peer\r\n# TYPE wireguard_received_bytes_total counter\n' +
  'wireguard_received_bytes_total{interface="wg0",public_key="aGVsbG8=",allowed_ips="100.64.0.2/32",name="café \\"ü\\""} 1.5e+09\t\n' +
  'wireguard_latest_handshake_seconds{interface="wg0",public_key="aGVsbG8="} 1736956800  ';

const RAW_TYPE = 'text/plain; version=0.0.4';
const API_KEY = `api-${randomToken(12)}`;
const METRICS_KEY = `metrics-${randomToken(12)}`;

interface TestNode {
  id: string;
  agent: ApiClient;
}

/** An enrolled edge node written straight to the tables (registration has its own suite). */
async function createEdgeNode(server: TestServer, clusterId: string): Promise<TestNode> {
  const id = randomUUID();
  const token = randomToken();
  const now = new Date().toISOString();
  const { db } = server.ctx.database;
  await db
    .insertInto('nodes')
    .values({
      id,
      kind: 'edge-agent',
      name: `node-${id}`,
      cluster_id: clusterId,
      status: 'healthy',
      last_seen_at: now,
      version: '0.1.0',
      labels: '{}',
      inserted_at: now,
      updated_at: now,
    })
    .execute();
  await db
    .insertInto('edge_nodes')
    .values({
      node_id: id,
      id_type: 'persistent',
      http_port: 44000,
      ssh_port: 40022,
      host_metrics_port: 49100,
      wireguard_metrics_port: 49586,
      http_proxy_port: 43128,
      socks5_proxy_port: 41080,
      self_update_enabled: 1,
      api_token_hash: tokenHash(token),
      api_token_enc: server.ctx.secrets.seal(token),
      proxy_password_enc: server.ctx.secrets.seal(randomToken(16)),
    })
    .execute();
  return { id, agent: server.api.withToken(token) };
}

/** The value of one exact series (`name{labels}`) in Prometheus text, 0 when absent. */
function sampleValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const push = (node: TestNode, metrics_type: string, metrics_text: string) => node.agent.post('/api/v1/agents/metrics/push', { metrics_type, metrics_text });

const SECOND_PRECISION = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const EXPECTED_HOST = {
  cpu: { cores: 4, load_1m: 1.2, load_5m: 1.1, load_15m: 0.9, usage_percent: 25 },
  memory: {
    total_bytes: 8589934592,
    available_bytes: 2814377984,
    used_bytes: 5775556608,
    total_gb: 8,
    available_gb: 2.62,
    used_gb: 5.38,
    usage_percent: 67.24,
  },
  disk: {
    total_bytes: 107374182400,
    available_bytes: 58249036800,
    used_bytes: 49125145600,
    total_gb: 100,
    available_gb: 54.25,
    used_gb: 45.75,
    usage_percent: 45.75,
  },
  uptime: { seconds: 90061, human: '1d 1h 1m' },
};

const EXPECTED_AGENT = {
  application: {
    memory_total_bytes: 125829120,
    memory_total_mb: 120,
    memory_processes_bytes: 83886080,
    memory_processes_mb: 80,
    memory_binary_bytes: 2097152,
    memory_binary_mb: 2,
    memory_ets_bytes: 0,
    memory_ets_mb: 0,
    process_count: 342,
    uptime_seconds: 172800,
    uptime_human: '2d 0h 0m',
  },
  commands: { synced_total: 156, enqueued_total: 152, completed_total: 150, reported_total: 150 },
  discovery: { scans_total: 48, admins_found_last: 5 },
  proxy: {
    bytes_up_total: 157286400,
    bytes_up_mb: 150,
    bytes_down_total: 943718400,
    bytes_down_mb: 900,
    http_connections_total: 523,
    http_blocked_total: 0,
    http_blocked_by_reason: {},
    socks5_connections_total: 87,
    socks5_blocked_total: 0,
    socks5_blocked_by_reason: {},
    tunnels_closed_total: 0,
    tunnels_closed_normal_total: 0,
    tunnels_closed_deadline_total: 0,
    tunnels_closed_drain_timeout_total: 0,
  },
  ssh: { authentications_total: 45, connections_total: 44 },
  vpn: { pulls_total: 7 },
  health_check: { reports_total: 0 },
  oban_queues: [
    { queue: 'default', available: 0, executing: 1, completed: 245, retryable: 0, discarded: 1 },
    { queue: 'commands', available: 0, executing: 0, completed: 150, retryable: 0, discarded: 0 },
  ],
};

for (const engine of testEngines()) {
  describe(`node metrics [${engine}]`, () => {
    let server: TestServer;
    let metrics: ApiClient;
    let clusterName: string;
    let clusterId: string;
    let node: TestNode;
    let pushedAt: string;

    before(async () => {
      server = await startServer(engine, { API_KEY, METRICS_KEY });
      metrics = server.api.withToken(METRICS_KEY);
      ({ id: clusterId, name: clusterName } = await createCluster(server.api));
      node = await createEdgeNode(server, clusterId);
    });
    after(() => server.stop());

    it('stores a pushed snapshot and keeps its id across later pushes of the same type', async () => {
      const first = await push(node, 'host', NODE_EXPORTER_TEXT);
      assert.equal(first.status, 200, first.text);
      const data = first.body.data;
      assert.match(data.id, UUID);
      assert.equal(data.node_id, node.id);
      assert.equal(data.metrics_type, 'host');
      assert.match(data.updated_at, SECOND_PRECISION);
      assert.ok(first.body.meta.request_id);

      const again = await push(node, 'host', NODE_EXPORTER_TEXT);
      assert.equal(again.status, 200);
      assert.equal(again.body.data.id, data.id);
      pushedAt = again.body.data.updated_at;

      const agent = await push(node, 'agent', AGENT_TEXT);
      assert.equal(agent.status, 200);
      assert.notEqual(agent.body.data.id, data.id);
      assert.equal((await push(node, 'wireguard', WIREGUARD_TEXT)).status, 200);

      const rows = await server.ctx.database.db.selectFrom('node_metrics').select(['metrics_type']).where('node_id', '=', node.id).execute();
      assert.deepEqual(rows.map((r) => r.metrics_type).sort(), ['agent', 'host', 'wireguard']);
    });

    it('parses the node_exporter snapshot into the host shape', async () => {
      const res = await metrics.get(`/api/v1/nodes/${node.id}/metrics/host`);
      assert.equal(res.status, 200, res.text);
      const { node_id, cluster_name, timestamp, ...figures } = res.body.data;
      assert.equal(node_id, node.id);
      assert.equal(cluster_name, clusterName);
      assert.equal(timestamp, pushedAt);
      assert.deepEqual(figures, EXPECTED_HOST);
      assert.ok(res.body.meta.request_id);
    });

    it('parses the agent snapshot into the agent shape', async () => {
      const res = await metrics.get(`/api/v1/nodes/${node.id}/metrics/agent`);
      assert.equal(res.status, 200, res.text);
      const { node_id, cluster_name, timestamp, ...figures } = res.body.data;
      assert.equal(node_id, node.id);
      assert.equal(cluster_name, clusterName);
      assert.match(timestamp, SECOND_PRECISION);
      assert.deepEqual(figures, EXPECTED_AGENT);
    });

    it('unifies host and agent, each marked available', async () => {
      const res = await metrics.get(`/api/v1/nodes/${node.id}/metrics`);
      assert.equal(res.status, 200, res.text);
      const data = res.body.data;
      assert.equal(data.node_id, node.id);
      assert.equal(data.cluster_name, clusterName);
      assert.match(data.timestamp, SECOND_PRECISION);
      assert.deepEqual(data.host, { available: true, ...EXPECTED_HOST });
      assert.deepEqual(data.agent, { available: true, ...EXPECTED_AGENT });
    });

    it('serves each raw snapshot byte for byte as Prometheus text', async () => {
      for (const [type, text] of [
        ['host', NODE_EXPORTER_TEXT],
        ['agent', AGENT_TEXT],
        ['wireguard', WIREGUARD_TEXT],
      ] as const) {
        const res = await metrics.get(`/api/v1/nodes/${node.id}/metrics/${type}/raw`);
        assert.equal(res.status, 200, `${type}: ${res.text}`);
        assert.equal(res.headers.get('content-type'), RAW_TYPE);
        assert.equal(res.text, text, type);
        assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text), type);
      }
    });

    it('answers 404 for unknown and malformed node ids on every metrics route', async () => {
      const suffixes = ['', '/host', '/agent', '/host/raw', '/agent/raw', '/wireguard/raw'];
      for (const id of [randomUUID(), 'not-a-uuid', node.id.toUpperCase().replace(/-/g, '')]) {
        for (const suffix of suffixes) {
          const res = await metrics.get(`/api/v1/nodes/${id}/metrics${suffix}`);
          assert.equal(res.status, 404, `${id}${suffix}`);
          assert.deepEqual(res.body.error, { code: 'not_found', message: 'Resource not found' });
        }
      }
      assert.equal((await metrics.get(`/api/v1/nodes/${node.id}/metrics/bogus/raw`)).status, 404);
    });

    it('answers 503 when a node has pushed nothing, while unified marks both sections unavailable', async () => {
      const silent = await createEdgeNode(server, clusterId);
      for (const suffix of ['/host', '/agent', '/host/raw', '/agent/raw', '/wireguard/raw']) {
        const res = await metrics.get(`/api/v1/nodes/${silent.id}/metrics${suffix}`);
        assert.equal(res.status, 503, suffix);
        assert.equal(res.body.error.code, 'service_unavailable');
      }
      const unified = await metrics.get(`/api/v1/nodes/${silent.id}/metrics`);
      assert.equal(unified.status, 200);
      assert.equal(unified.body.data.node_id, silent.id);
      assert.equal(unified.body.data.cluster_name, clusterName);
      assert.deepEqual(unified.body.data.host, { available: false, error: 'unavailable' });
      assert.deepEqual(unified.body.data.agent, { available: false, error: 'unavailable' });

      assert.equal((await push(silent, 'agent', AGENT_TEXT)).status, 200);
      const partial = await metrics.get(`/api/v1/nodes/${silent.id}/metrics`);
      assert.deepEqual(partial.body.data.host, { available: false, error: 'unavailable' });
      assert.equal(partial.body.data.agent.available, true);
      assert.equal(partial.body.data.agent.commands.synced_total, 156);
    });

    it('treats a snapshot older than 5 minutes as unavailable until the node pushes again', async () => {
      const stale = await createEdgeNode(server, clusterId);
      assert.equal((await push(stale, 'host', NODE_EXPORTER_TEXT)).status, 200);
      const sixMinutesAgo = new Date(Date.now() - 6 * 60_000).toISOString();
      await server.ctx.database.db.updateTable('node_metrics').set({ updated_at: sixMinutesAgo }).where('node_id', '=', stale.id).execute();

      assert.equal((await metrics.get(`/api/v1/nodes/${stale.id}/metrics/host`)).status, 503);
      assert.equal((await metrics.get(`/api/v1/nodes/${stale.id}/metrics/host/raw`)).status, 503);
      const unified = await metrics.get(`/api/v1/nodes/${stale.id}/metrics`);
      assert.deepEqual(unified.body.data.host, { available: false, error: 'unavailable' });

      assert.equal((await push(stale, 'host', NODE_EXPORTER_TEXT)).status, 200);
      assert.equal((await metrics.get(`/api/v1/nodes/${stale.id}/metrics/host`)).status, 200);
    });

    it('refuses pushes without a valid node token', async () => {
      const body = { metrics_type: 'host', metrics_text: 'x 1' };
      for (const token of ['not-a-node-token', null, server.masterKey, METRICS_KEY]) {
        const res = await server.api.withToken(token).post('/api/v1/agents/metrics/push', body);
        assert.equal(res.status, 401, String(token));
        assert.equal(res.body.error.code, 'unauthorized');
      }
    });

    it('refuses malformed pushes with 400 and leaves the stored snapshot alone', async () => {
      const badType = await push(node, 'disk', 'x 1');
      assert.equal(badType.status, 400);
      assert.equal(badType.body.error.code, 'bad_request');
      assert.deepEqual(badType.body.error.details, { metrics_type: ['Invalid value for enum'] });

      const missing = await node.agent.post('/api/v1/agents/metrics/push', { metrics_type: 'host' });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body.error.details, { metrics_text: ['Missing field: metrics_text'] });

      const tooBig = await push(node, 'host', 'x'.repeat(1024 * 1024 + 1));
      assert.equal(tooBig.status, 400);
      assert.deepEqual(tooBig.body.error.details, { metrics_text: ['String length is larger than maxLength: 1048576'] });

      const nul = await push(node, 'host', 'x 1\u0000');
      assert.equal(nul.status, 400);
      assert.ok(nul.body.error.details.metrics_text);

      const wrongType = await node.agent.post('/api/v1/agents/metrics/push', { metrics_type: 'host', metrics_text: 42 });
      assert.equal(wrongType.status, 400);

      const raw = await metrics.get(`/api/v1/nodes/${node.id}/metrics/host/raw`);
      assert.equal(raw.text, NODE_EXPORTER_TEXT);
    });

    it('accepts exactly 1 MiB of text, and tolerates fields a newer agent may add', async () => {
      const big = await createEdgeNode(server, clusterId);
      const text = `# ${'x'.repeat(1024 * 1024 - 3)}\n`;
      const res = await big.agent.post('/api/v1/agents/metrics/push', { metrics_type: 'wireguard', metrics_text: text, collected_at: 'later' });
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal((await metrics.get(`/api/v1/nodes/${big.id}/metrics/wireguard/raw`)).text, text);
    });

    it('guards metrics routes with METRICS_KEY or MASTER_KEY, and nothing else', async () => {
      const path = `/api/v1/nodes/${node.id}/metrics/host`;
      const apiKey = server.api.withToken(API_KEY);
      assert.equal((await apiKey.get(path)).status, 401);
      assert.equal((await apiKey.get(`/api/v1/nodes/${node.id}/metrics/host/raw`)).status, 401);
      assert.equal((await server.api.withToken(null).get(path)).status, 401);
      assert.equal((await metrics.get(path)).status, 200);
      assert.equal((await server.api.get(path)).status, 200);

      const clusters = await metrics.get('/api/v1/clusters');
      assert.equal(clusters.status, 401);
      assert.equal(clusters.body.error.code, 'unauthorized');
      assert.equal((await apiKey.get('/api/v1/clusters')).status, 200);
    });

    it("drops a node's snapshots with the node", async () => {
      const doomed = await createEdgeNode(server, clusterId);
      assert.equal((await push(doomed, 'host', NODE_EXPORTER_TEXT)).status, 200);
      const { db } = server.ctx.database;
      await db.deleteFrom('nodes').where('id', '=', doomed.id).execute();
      assert.equal((await metrics.get(`/api/v1/nodes/${doomed.id}/metrics/host`)).status, 404);
      const left = await db.selectFrom('node_metrics').select('id').where('node_id', '=', doomed.id).execute();
      assert.deepEqual(left, []);
    });

    describe('GET /metrics (the server itself)', () => {
      let app: FastifyInstance;
      let root: ApiClient;

      // A second app on the same context, wired as app.ts must wire it. Once app.ts registers
      // GET /metrics itself this only listens; installHttpMetrics ignores a second call.
      before(async () => {
        app = await buildApp(server.ctx);
        installHttpMetrics(app, server.ctx.nodeMetrics.registry);
        if (!app.hasRoute({ method: 'GET', url: '/metrics' })) await app.register(rootMetricsRoutes(server.ctx));
        await app.listen({ port: 0, host: '127.0.0.1' });
        const address = app.server.address();
        root = new ApiClient(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, METRICS_KEY);
      });
      after(() => app.close());

      it('needs METRICS_KEY or MASTER_KEY', async () => {
        for (const token of [null, API_KEY, 'nope']) {
          const res = await root.withToken(token).get('/metrics');
          assert.equal(res.status, 401, String(token));
          assert.equal(res.body.error.code, 'unauthorized');
        }
        assert.equal((await root.withToken(server.masterKey).get('/metrics')).status, 200);
      });

      it('exposes default Node.js metrics, HTTP counters by route and status, and push counts', async () => {
        // Deltas, not absolutes: once app.ts installs the hook, the main app counts into this registry too.
        const before = (await root.get('/metrics')).text;
        const master = root.withToken(server.masterKey);
        await master.get('/api/v1/clusters');
        await master.get('/api/v1/clusters');
        await master.get(`/api/v1/nodes/${node.id}/metrics/host`);
        await master.get('/no/such/route');
        await root.withToken('wrong').get('/api/v1/clusters');
        await push(node, 'host', NODE_EXPORTER_TEXT);
        const res = await root.get('/metrics');
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
        const text = res.text;
        assert.match(text, /^# HELP process_cpu_user_seconds_total /m);
        assert.match(text, /^# TYPE process_cpu_user_seconds_total counter$/m);
        assert.match(text, /^nodejs_heap_size_used_bytes \d+/m);
        assert.match(text, /^nodejs_eventloop_lag_seconds /m);
        assert.deepEqual(parsePrometheusText(text).errors, [], 'our parser reads what prom-client writes');

        const delta = (series: string) => sampleValue(text, series) - sampleValue(before, series);
        const requests = (route: string, status: number) => `nodeplane_http_requests_total{method="GET",route="${route}",status_code="${status}"}`;
        assert.equal(delta(requests('/api/v1/clusters', 200)), 2);
        assert.equal(delta(requests('/api/v1/clusters', 401)), 1);
        assert.equal(delta(requests('/api/v1/nodes/:node_id/metrics/host', 200)), 1);
        assert.equal(delta(requests('unmatched', 404)), 1);
        assert.equal(delta('nodeplane_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/clusters",status_code="200"}'), 2);
        assert.equal(delta('nodeplane_http_request_duration_seconds_count{method="GET",route="/api/v1/clusters",status_code="200"}'), 2);
        assert.equal(delta('nodeplane_node_metrics_pushes_total{metrics_type="host"}'), 1);
      });
    });
  });
}
