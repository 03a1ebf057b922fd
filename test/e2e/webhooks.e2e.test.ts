/**
 * Webhook delivery end to end (edge-admin spec §11.3): real HTTP receivers on loopback verify every
 * signature and see each event byte-for-byte as the outbox stored it; recoverable failures (408,
 * 429, 503, timeouts, refused connections) are retried with backoff up to WEBHOOK_MAX_ATTEMPTS and
 * nothing else is; redirects are not followed; deletes and EVENT_DELIVERY_MAX_AGE_SECONDS cancel
 * pending deliveries; and a server killed with SIGKILL between a change and its delivery delivers
 * the event after it restarts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/server/db/dialect.ts';
import { registerAgent } from '../helpers/agents.ts';
import { commitVerifiedEvent, createCluster } from '../helpers/factories.ts';
import { freePort, ServerProcess, until } from '../helpers/processes.ts';
import { type ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

const secret = () => `whsec-${randomBytes(24).toString('hex')}`;
const ALLOW = { WEBHOOK_ALLOW_PRIVATE_IPS: 'true' };

const NODE_DATA_KEYS = [
  'node_id',
  'cluster_name',
  'status',
  'version',
  'id_type',
  'http_port',
  'ssh_port',
  'host_metrics_port',
  'wireguard_metrics_port',
  'http_proxy_port',
  'socks5_proxy_port',
  'self_update_enabled',
  'last_seen_at',
  'inserted_at',
  'updated_at',
].sort();
const ENVELOPE_KEYS = ['specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'corename', 'data'].sort();

async function createWebhook(api: ApiClient, url: string, webhookSecret: string, events: string[], headers?: Record<string, string>): Promise<string> {
  const res = await api.post('/api/v1/webhooks', { url, secret: webhookSecret, subscribed_events: events, ...(headers ? { headers } : {}) });
  assert.equal(res.status, 201, res.text);
  return res.body.data.id;
}

const verifyBogusKey = (api: ApiClient) => commitVerifiedEvent(api);

const webhookMetrics = async (api: ApiClient) => (await api.get('/api/v1/admins/me/metrics')).body.data.webhook as Record<string, number>;

const jobsOf = (server: TestServer, webhookId: string) =>
  server.ctx.database.db.selectFrom('jobs').selectAll().where('dedupe_key', 'like', `${webhookId}:%`).execute();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const engine of testEngines()) {
  describe(`webhook delivery end to end [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { ...ALLOW, WEBHOOK_RETRY_BASE_MS: '150', WEBHOOK_TIMEOUT_MS: '600' });
    });
    after(() => server.stop());

    it('delivers events from real API actions byte-identical to the outbox, signed, once per webhook × event', async () => {
      const s1 = secret();
      const s2 = secret();
      const all = await new WebhookReceiver(s1).start();
      const registeredOnly = await new WebhookReceiver(s2).start();
      const created: string[] = [];
      try {
        const types = ['edge.enrollment_key.verified', 'edge.node.registered', 'edge.node.reregistered'];
        const w1 = await createWebhook(server.api, `${all.url}/hook?tenant=1`, s1, types, { 'X-Tenant': 't-1', Authorization: 'Bearer xoxb-token' });
        const w2 = await createWebhook(server.api, `${registeredOnly.url}/reg`, s2, ['edge.node.registered']);
        created.push(w1, w2);
        const seqBefore = Number(
          (
            await server.ctx.database.db
              .selectFrom('events')
              .select((eb) => eb.fn.max('seq').as('m'))
              .executeTakeFirst()
          )?.m ?? 0,
        );

        const cluster = await createCluster(server.api);
        const agent = await registerAgent(server.api, { cluster: cluster.name });
        await registerAgent(server.api, { cluster: cluster.name, token: agent.apiToken, node_id: agent.nodeId });
        await verifyBogusKey(server.api);

        const stored = await server.ctx.database.db
          .selectFrom('events')
          .select(['id', 'type', 'envelope'])
          .where('seq', '>', seqBefore)
          .orderBy('seq')
          .execute();
        const expected = stored.filter((e) => types.includes(e.type));
        assert.deepEqual([...new Set(expected.map((e) => e.type))].sort(), [...types].sort());
        await until(async () => all.requests.length >= expected.length && registeredOnly.requests.length >= 1, 'deliveries');
        await sleep(300);

        assert.equal(all.requests.length, expected.length, 'one request per event, no more');
        for (const event of expected) {
          const got = all.forEvent(event.id);
          assert.equal(got.length, 1, event.type);
          const request = got[0]!;
          assert.ok(request.body.equals(Buffer.from(event.envelope, 'utf8')), `${event.type} body differs from the stored envelope`);
          assert.equal(request.method, 'POST');
          assert.equal(request.path, '/hook?tenant=1');
          assert.equal(request.headers['content-type'], 'application/cloudevents+json');
          assert.match(request.headers['x-edge-signature'] as string, /^sha256=[0-9a-f]{64}$/);
          assert.ok(request.signatureValid, `${event.type}: signature does not verify`);
          assert.equal(request.headers['x-tenant'], 't-1');
          assert.equal(request.headers.authorization, 'Bearer xoxb-token');
          const envelope = request.event!;
          assert.deepEqual(Object.keys(envelope).sort(), ENVELOPE_KEYS);
          assert.equal(envelope.specversion, '1.0');
          assert.equal(envelope.source, 'https://github.com/wenet-ec/edge-core');
          assert.equal(envelope.datacontenttype, 'application/json');
          assert.equal(envelope.corename, 'default');
          assert.match(envelope.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
          const data = envelope.data as Record<string, unknown>;
          if (event.type === 'edge.node.registered' || event.type === 'edge.node.reregistered') {
            assert.deepEqual(Object.keys(data).sort(), NODE_DATA_KEYS);
            assert.equal(data.node_id, agent.nodeId);
            assert.equal(data.cluster_name, cluster.name);
          } else {
            assert.deepEqual(Object.keys(data).sort(), ['attempts', 'cluster_name', 'enrollment_key_id', 'name', 'result', 'uses_remaining', 'verified_at']);
          }
        }

        const registered = expected.filter((e) => e.type === 'edge.node.registered');
        assert.deepEqual(
          registeredOnly.requests.map((r) => r.event?.id),
          registered.map((e) => e.id),
        );
        assert.ok(
          registeredOnly.requests.every((r) => r.signatureValid),
          'signed with its own webhook secret',
        );
        assert.equal(registeredOnly.requests[0]!.headers['x-tenant'], undefined);
        assert.deepEqual(await jobsOf(server, w1), [], 'delivered jobs are gone');
      } finally {
        for (const id of created) await server.api.delete(`/api/v1/webhooks/${id}`);
        await all.stop();
        await registeredOnly.stop();
      }
    });

    it('retries 408, 429, 503, timeouts and refused connections with backoff; never 500, 4xx or redirects', async () => {
      const s = secret();
      const receiver = await new WebhookReceiver(s).start();
      const seen = new Map<string, number>();
      receiver.responder = (request) => {
        const path = request.path;
        const n = (seen.get(path) ?? 0) + 1;
        seen.set(path, n);
        if (path === '/r503' || path === '/r429' || path === '/r408') return { status: n === 1 ? Number(path.slice(2)) : 204 };
        if (path === '/slow') return n === 1 ? { status: 200, delayMs: 1500 } : { status: 200 };
        if (path === '/always503') return { status: 503 };
        if (path === '/r500') return { status: 500 };
        if (path === '/r404') return { status: 404 };
        if (path === '/redirect') return { status: 302, headers: { location: `${receiver.url}/elsewhere` } };
        if (path === '/moved') return { status: 307, headers: { location: `${receiver.url}/elsewhere` } };
        return { status: 200 };
      };
      const closedPort = await freePort();
      const created: string[] = [];
      try {
        const before = await webhookMetrics(server.api);
        const paths = ['/r503', '/r429', '/r408', '/slow', '/always503', '/r500', '/r404', '/redirect', '/moved'];
        const ids = new Map<string, string>();
        for (const p of paths) ids.set(p, await createWebhook(server.api, `${receiver.url}${p}`, s, ['edge.enrollment_key.verified']));
        const refusedId = await createWebhook(server.api, `http://127.0.0.1:${closedPort}/down`, s, ['edge.enrollment_key.verified']);
        created.push(...ids.values(), refusedId);
        await verifyBogusKey(server.api);
        // Until the relay has run, no job exists and every delivery would look settled.
        await server.ctx.relay.flush();

        const settled = async (id: string) => {
          const jobs = await jobsOf(server, id);
          return jobs.length === 0 || jobs.every((j) => j.state === 'dead');
        };
        await until(async () => (await Promise.all([...ids.values(), refusedId].map(settled))).every(Boolean), 'every delivery settled', 30_000);
        const count = (p: string) => receiver.requests.filter((r) => r.path === p).length;

        for (const p of ['/r503', '/r429', '/r408', '/slow']) {
          assert.equal(count(p), 2, p);
          const [first, second] = receiver.requests.filter((r) => r.path === p);
          assert.ok(first!.body.equals(second!.body), `${p}: a retry sends the same bytes`);
          assert.equal(first!.event!.id, second!.event!.id);
          assert.ok(second!.at - first!.at >= 150 * 0.9, `${p}: retried after ${second!.at - first!.at} ms`);
          assert.deepEqual(await jobsOf(server, ids.get(p)!), [], `${p} delivered`);
        }
        assert.equal(count('/always503'), 3, 'WEBHOOK_MAX_ATTEMPTS (3) attempts in all');
        const always = await jobsOf(server, ids.get('/always503')!);
        assert.equal(always[0]!.state, 'dead');
        assert.equal(always[0]!.attempts, 3);
        assert.equal(always[0]!.last_error, 'receiver answered 503');

        for (const [p, status] of [
          ['/r500', 500],
          ['/r404', 404],
          ['/redirect', 302],
          ['/moved', 307],
        ] as const) {
          assert.equal(count(p), 1, `${p} is not retried`);
          const [job] = await jobsOf(server, ids.get(p)!);
          assert.equal(job!.state, 'dead');
          assert.equal(job!.attempts, 1);
          assert.equal(job!.last_error, `receiver answered ${status}`);
        }
        assert.equal(count('/elsewhere'), 0, 'redirects are not followed');

        const [refused] = await jobsOf(server, refusedId);
        assert.equal(refused!.state, 'dead');
        assert.equal(refused!.attempts, 3);
        assert.match(refused!.last_error!, /^delivery failed: .*ECONNREFUSED/);

        const afterMetrics = await webhookMetrics(server.api);
        const delta = (k: string) => afterMetrics[k]! - before[k]!;
        assert.equal(delta('deliveries_ok_total'), 4);
        assert.equal(delta('deliveries_recoverable_total'), 4 + 3 + 3);
        assert.equal(delta('deliveries_terminal_total'), 4);
        assert.equal(delta('deliveries_total'), 4 + 10 + 4);
        // Every event is offered: the verification, and the audit record of each webhook created before it.
        assert.equal(delta('fan_outs_total'), 1 + paths.length + 1);
      } finally {
        for (const id of created) await server.api.delete(`/api/v1/webhooks/${id}`);
        await receiver.stop();
      }
    });
  });

  describe(`webhook cancellation [${engine}]`, () => {
    let slowRetry: TestServer;
    let shortLived: TestServer;
    before(async () => {
      slowRetry = await startServer(engine, { ...ALLOW, WEBHOOK_RETRY_BASE_MS: '1500' });
      shortLived = await startServer(engine, { ...ALLOW, WEBHOOK_RETRY_BASE_MS: '1500', EVENT_DELIVERY_MAX_AGE_SECONDS: '1' });
    });
    after(async () => {
      await slowRetry.stop();
      await shortLived.stop();
    });

    it('a deleted webhook gets no further delivery', async () => {
      const s = secret();
      const receiver = await new WebhookReceiver(s).start();
      receiver.responder = () => ({ status: 503 });
      try {
        const id = await createWebhook(slowRetry.api, `${receiver.url}/gone`, s, ['edge.enrollment_key.verified']);
        await verifyBogusKey(slowRetry.api);
        await until(async () => receiver.requests.length === 1, 'first attempt');
        const [pending] = await until(async () => {
          const jobs = await jobsOf(slowRetry, id);
          return jobs.length === 1 && jobs[0]!.lease_until === null && jobs;
        }, 'retry scheduled');
        assert.equal(pending!.state, 'pending');
        assert.equal((await slowRetry.api.delete(`/api/v1/webhooks/${id}`)).status, 204);
        assert.deepEqual(await jobsOf(slowRetry, id), []);
        await sleep(2500);
        assert.equal(receiver.requests.length, 1);
      } finally {
        await receiver.stop();
      }
    });

    it('drops deliveries older than EVENT_DELIVERY_MAX_AGE_SECONDS', async () => {
      const s = secret();
      const receiver = await new WebhookReceiver(s).start();
      receiver.responder = () => ({ status: 503 });
      try {
        const id = await createWebhook(shortLived.api, `${receiver.url}/old`, s, ['edge.enrollment_key.verified']);
        await verifyBogusKey(shortLived.api);
        await until(async () => receiver.requests.length === 1, 'first attempt');
        await until(async () => (await jobsOf(shortLived, id)).length === 0, 'expired delivery dropped', 10_000);
        assert.equal(receiver.requests.length, 1);
        const metrics = await shortLived.api.get('/metrics');
        assert.match(metrics.text, /^nodeplane_webhook_deliveries_expired_total 1$/m);
      } finally {
        await receiver.stop();
      }
    });
  });

  describe(`webhook delivery across a crash [${engine}]`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await ServerProcess.create(engine, { ...ALLOW, WEBHOOK_RETRY_BASE_MS: '1000', WEBHOOK_MAX_ATTEMPTS: '10' });
    });
    after(() => server.destroy());

    it('an event committed before SIGKILL is delivered after restart, with the same id', async () => {
      const s = secret();
      const port = await freePort();
      const database = openDatabase(server.databaseUrl, { poolSize: 1 });
      try {
        const id = await createWebhook(server.api, `http://127.0.0.1:${port}/crash`, s, ['edge.enrollment_key.verified']);
        assert.equal((await verifyBogusKey(server.api)).status, 200);
        // Killed right after the change committed: the relay may not even have made the job yet.
        await server.kill();
        const [event] = await database.db.selectFrom('events').select(['id', 'envelope']).where('type', '=', 'edge.enrollment_key.verified').execute();
        assert.ok(event, 'the event was committed');

        // Back up with the receiver still down: the delivery is attempted and fails; killed again.
        await server.start();
        await until(async () => {
          const jobs = await database.db.selectFrom('jobs').selectAll().where('dedupe_key', '=', `${id}:${event.id}`).execute();
          return jobs.length === 1 && jobs[0]!.attempts >= 1 && jobs[0]!.lease_until === null;
        }, 'a failed attempt after the first restart');
        await server.kill();

        const receiver = await new WebhookReceiver(s).start(port);
        try {
          await server.start();
          await until(async () => receiver.requests.length >= 1, `delivery after restart\n${server.output}`, 60_000);
          await sleep(500);
          for (const request of receiver.requests) {
            assert.equal(request.event!.id, event.id);
            assert.ok(request.body.equals(Buffer.from(event.envelope, 'utf8')));
            assert.ok(request.signatureValid);
          }
          await until(
            async () => (await database.db.selectFrom('jobs').select('id').where('dedupe_key', '=', `${id}:${event.id}`).execute()).length === 0,
            'job done',
          );
        } finally {
          await receiver.stop();
        }
      } finally {
        await database.close();
      }
    });
  });
}
