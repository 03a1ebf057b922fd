/**
 * Abuse of the public routes: per-IP rate limits with Retry-After in each face's own error format,
 * small body limits on unauthenticated routes, failed enrollment-key verifications recorded as a
 * bounded number of events, outbox retention that never drops what a subscriber still owes, and
 * slow clients cut off by the header/request timeouts while live WebSocket channels stay up.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createCluster, uniqueName } from '../helpers/factories.ts';
import { joinTicket, registerAgent, registrationBody } from '../helpers/agents.ts';
import { createNode, createSubscription, createUser, registrationBody as coreRegistrationBody } from '../helpers/vpn-admin.ts';
import { StreamAgent, eventsOf, waitUntil } from '../helpers/stream-agent.ts';

const VERIFY = '/api/v1/agents/enrollment_keys/verify';
const REGISTER = '/api/v1/agents/nodes';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** One request from a chosen loopback source address, so tests can act as distinct client IPs. */
function requestFrom(
  server: TestServer,
  from: string,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${server.url}${path}`,
      {
        method,
        localAddress: from,
        agent: false,
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const json = (res.headers['content-type'] ?? '').includes('json');
          resolve({ status: res.statusCode!, headers: res.headers, body: json && text ? JSON.parse(text) : text });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (value: unknown) => JSON.stringify(value);

function assertRetryAfter(res: RawResponse) {
  assert.equal(res.status, 429);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After: ${res.headers['retry-after']}`);
}

function assertAdmin429(res: RawResponse) {
  assertRetryAfter(res);
  assert.equal(res.body.error.code, 'too_many_requests');
  assert.match(res.body.error.message, /Retry-After/);
  assert.equal(typeof res.body.meta.request_id, 'string');
}

async function count(server: TestServer, table: 'nodes' | 'enrollment_keys' | 'core_nodes' | 'events'): Promise<number> {
  const row = await server.ctx.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const WINDOW_MS = 1000;

for (const engine of testEngines()) {
  describe(`rate limits on public routes [${engine}]`, () => {
    let server: TestServer;
    let cluster: string;
    before(async () => {
      cluster = uniqueName('pub');
      server = await startServer(engine, {
        RATE_LIMIT_PUBLIC_MAX: '3',
        RATE_LIMIT_PUBLIC_WINDOW_MS: '60000',
        RATE_LIMIT_SUBSCRIPTION_MAX: '2',
        PUBLIC_ENROLLMENT_KEY_ENABLED: 'true',
        DEFAULT_CLUSTER_NAME: cluster,
      });
      await createCluster(server.api, { name: cluster });
    });
    after(() => server.stop());

    it('answers enrollment-key guesses past the limit with 429 + Retry-After in the Admin envelope, per client IP', async () => {
      for (let i = 0; i < 3; i++) {
        const res = await requestFrom(server, '127.0.0.2', 'POST', VERIFY, { body: json({ key: `guess-${i}` }) });
        assert.equal(res.status, 200);
        assert.equal(res.body.data.error, 'invalid_key');
        assert.equal(res.headers['retry-after'], undefined);
      }
      assertAdmin429(await requestFrom(server, '127.0.0.2', 'POST', VERIFY, { body: json({ key: 'guess-3' }) }));
      // Another client is not held back by the first one's guesses.
      const other = await requestFrom(server, '127.0.0.3', 'POST', VERIFY, { body: json({ key: 'guess' }) });
      assert.equal(other.status, 200);
    });

    it('limits agent registration; a refused registration stores nothing', async () => {
      const ok = await requestFrom(server, '127.0.0.4', 'POST', REGISTER, {
        body: json(registrationBody(cluster)),
        headers: { authorization: `Bearer ${await joinTicket(server.api, cluster)}` },
      });
      assert.equal(ok.status, 201);
      for (let i = 0; i < 2; i++) {
        const bad = await requestFrom(server, '127.0.0.4', 'POST', REGISTER, {
          body: json(registrationBody(cluster)),
          headers: { authorization: 'Bearer not-a-ticket' },
        });
        assert.equal(bad.status, 401);
      }
      const nodes = await count(server, 'nodes');
      const refused = await requestFrom(server, '127.0.0.4', 'POST', REGISTER, {
        body: json(registrationBody(cluster)),
        headers: { authorization: `Bearer ${await joinTicket(server.api, cluster)}` },
      });
      assertAdmin429(refused);
      assert.equal(await count(server, 'nodes'), nodes);
    });

    it('limits the public enrollment key', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await requestFrom(server, '127.0.0.5', 'POST', '/api/v1/clusters/default/enrollment_keys/public')).status, 201);
      const keys = await count(server, 'enrollment_keys');
      assertAdmin429(await requestFrom(server, '127.0.0.5', 'POST', '/api/v1/clusters/default/enrollment_keys/public'));
      assert.equal(await count(server, 'enrollment_keys'), keys);
    });

    it('limits Core /node/register and answers NestJS-style', async () => {
      for (let i = 0; i < 3; i++) {
        const res = await requestFrom(server, '127.0.0.6', 'POST', '/node/register', { body: json(coreRegistrationBody(`no-such-code-${i}`)) });
        assert.ok(res.status >= 400 && res.status < 500 && res.status !== 429, `got ${res.status}`);
      }
      const node = await createNode(server.api);
      const refused = await requestFrom(server, '127.0.0.6', 'POST', '/node/register', {
        body: json(coreRegistrationBody(node.registration_code, { host: node.host })),
      });
      assertRetryAfter(refused);
      assert.deepEqual(refused.body, {
        statusCode: 429,
        message: 'Too many requests; retry after the number of seconds in Retry-After',
        error: 'Too Many Requests',
      });
      const stored = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
      assert.equal(stored.status, 'pending', 'the refused registration did not register the node');
    });

    it('limits fetches of one subscription link per client IP, not the other links behind the same address', async () => {
      const user = await createUser(server.api);
      const [a, b] = [await createSubscription(server.api, user.id), await createSubscription(server.api, user.id)];
      for (let i = 0; i < 2; i++) assert.equal((await requestFrom(server, '127.0.0.7', 'GET', `/sub/${a.link_uuid}`)).status, 200);
      const refused = await requestFrom(server, '127.0.0.7', 'GET', `/sub/${a.link_uuid}`);
      assertRetryAfter(refused);
      assert.equal(refused.body, 'Too Many Requests');
      assert.equal((await requestFrom(server, '127.0.0.7', 'GET', `/sub/${b.link_uuid}`)).status, 200);
    });
  });

  describe(`body limits on public routes [${engine}]`, () => {
    let server: TestServer;
    let cluster: string;
    const padding = 'p'.repeat(64 * 1024);
    before(async () => {
      cluster = uniqueName('body');
      server = await startServer(engine, { PUBLIC_ENROLLMENT_KEY_ENABLED: 'true', DEFAULT_CLUSTER_NAME: cluster });
      await createCluster(server.api, { name: cluster });
    });
    after(() => server.stop());

    it('refuses a 64 KiB body to verify, registration and the public key with 413 in the Admin envelope, storing nothing', async () => {
      const key = (await server.api.post(`/api/v1/clusters/${cluster}/enrollment_keys`, {})).body.data;
      const verify = await server.api.withToken(null).post(VERIFY, { key: key.key, padding });
      assert.equal(verify.status, 413);
      assert.equal(verify.body.error.code, 'payload_too_large');
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).body.data.uses_remaining, 1, 'the key was not consumed');

      const nodes = await count(server, 'nodes');
      const ticket = await joinTicket(server.api, cluster);
      const register = await server.api.withToken(ticket).post(REGISTER, registrationBody(cluster, { padding }));
      assert.equal(register.status, 413);
      assert.equal(register.body.error.code, 'payload_too_large');
      assert.equal(await count(server, 'nodes'), nodes);
      // The ticket was not spent by the refused request.
      assert.equal((await server.api.withToken(ticket).post(REGISTER, registrationBody(cluster))).status, 201);

      const keys = await count(server, 'enrollment_keys');
      const publicKey = await server.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public', { padding });
      assert.equal(publicKey.status, 413);
      assert.equal(await count(server, 'enrollment_keys'), keys);
    });

    it('refuses a 64 KiB body to Core /node/register NestJS-style, while normal bodies pass', async () => {
      const node = await createNode(server.api);
      const refused = await server.api.withToken(null).post('/node/register', coreRegistrationBody(node.registration_code, { host: node.host, padding }));
      assert.deepEqual(refused.body, { statusCode: 413, message: 'Request body is too large', error: 'Payload Too Large' });
      assert.equal((await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data.status, 'pending');
      const registered = await server.api.withToken(null).post('/node/register', coreRegistrationBody(node.registration_code, { host: node.host }));
      assert.equal(registered.status, 201);
    });

    it('keeps BODY_LIMIT_BYTES on authenticated routes: the same body is read and judged by its schema', async () => {
      const res = await server.api.post(`/api/v1/clusters/${cluster}/enrollment_keys`, { padding });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'bad_request');
    });
  });
}

for (const engine of testEngines()) {
  describe(`failed verifications and event retention [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { FAILED_VERIFY_EVENT_WINDOW_MS: String(WINDOW_MS), EVENT_RETENTION_DAYS: '1', EVENT_PRUNING_INTERVAL_MS: '3600000' });
    });
    after(() => server.stop());

    const verifiedSince = async (skip: number) => (await eventsOf(server, 'edge.enrollment_key.verified')).slice(skip);

    it('records 50 failed verifications as a few events that still count every attempt', async () => {
      const cluster = await createCluster(server.api);
      const key = (await server.api.post(`/api/v1/clusters/${cluster.name}/enrollment_keys`, {})).body.data;
      const before = (await eventsOf(server, 'edge.enrollment_key.verified')).length;
      const anon = server.api.withToken(null);
      const started = Date.now();
      for (let i = 0; i < 50; i++) assert.equal((await anon.post(VERIFY, { key: `guess-${i}` })).body.data.error, 'invalid_key');
      assert.equal((await anon.post(VERIFY, { key: key.key })).body.data.verified, true);
      for (let i = 0; i < 25; i++) assert.equal((await anon.post(VERIFY, { key: key.key })).body.data.error, 'key_spent');
      // Per window, each of the two failure groups writes at most its first attempt and one aggregate.
      const windows = Math.ceil((Date.now() - started) / WINDOW_MS) + 1;
      const bound = 1 + 2 * 2 * windows;

      const attemptsOf = (events: any[], result: string) => events.filter((e) => e.data.result === result).reduce((sum, e) => sum + e.data.attempts, 0);
      let events: any[] = [];
      await waitUntil(async () => {
        events = await verifiedSince(before);
        return attemptsOf(events, 'invalid_key') === 50 && attemptsOf(events, 'key_spent') === 25;
      }, 30_000);
      assert.ok(events.length <= bound && events.length < 76, `${events.length} events for 76 attempts over ${windows} windows`);
      assert.equal(events.filter((e) => e.data.result === 'verified').length, 1, 'each success is still its own event');
      const spent = events.filter((e) => e.data.result === 'key_spent');
      assert.deepEqual(spent[0].data.attempts, 1, 'the first failure is recorded at once');
      assert.ok(spent.every((e) => e.data.enrollment_key_id === key.id && e.data.uses_remaining === 0));
    });

    it('prunes consumed events past the retention window and keeps those a subscriber has not consumed', async () => {
      const cluster = await createCluster(server.api);
      await registerAgent(server.api, { cluster });
      await server.ctx.relay.flush();
      const consumed = await count(server, 'events');
      assert.ok(consumed > 0);
      assert.equal(await server.ctx.eventRetention.prune(), 0, 'nothing is older than a day yet');

      // The relay is down: what is committed now is owed to the webhook subscriber.
      await server.ctx.relay.stop();
      await registerAgent(server.api, { cluster });
      const owed = (await count(server, 'events')) - consumed;
      assert.ok(owed > 0);

      const twoDaysLater = Date.now() + 2 * 86_400_000;
      assert.equal(await server.ctx.eventRetention.prune(twoDaysLater), consumed);
      assert.equal(await count(server, 'events'), owed, 'unconsumed events survive retention');

      await server.ctx.relay.start();
      await server.ctx.relay.flush();
      assert.equal(await server.ctx.eventRetention.prune(twoDaysLater), owed, 'once consumed they go too');
      assert.equal(await count(server, 'events'), 0);

      // Sequence numbers go on after the table was emptied, so subscribers see new events.
      const node = await registerAgent(server.api, { cluster });
      await server.ctx.relay.flush();
      const rows = await server.ctx.database.db.selectFrom('event_consumers').select(['name', 'last_seq']).execute();
      const last = await server.ctx.database.db.selectFrom('events').select(['seq', 'envelope']).orderBy('seq', 'desc').executeTakeFirstOrThrow();
      assert.ok(last.envelope.includes(node.nodeId));
      assert.ok(
        rows.every((r) => Number(r.last_seq) === Number(last.seq)),
        JSON.stringify(rows),
      );
    });
  });

  describe(`slow clients [${engine}]`, () => {
    let server: TestServer;
    const sockets: net.Socket[] = [];
    before(async () => {
      server = await startServer(engine, { HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_KEEPALIVE_TIMEOUT_MS: '500' });
    });
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await server.stop();
    });

    /** A raw connection; resolves `closed` with what the server sent when it hangs up. */
    function connect() {
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
      sockets.push(socket);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('error', () => {});
      const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
      return { socket, closed };
    }

    /** Fails instead of waiting for Node's defaults (a minute and more). */
    const within = <T>(promise: Promise<T>, ms: number, what: string) =>
      Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: still open after ${ms} ms`)))]);

    it('hangs up on a client that never finishes its headers', async () => {
      const { socket, closed } = connect();
      socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      const answer = await within(closed, 10_000, 'unfinished headers');
      assert.match(answer, /^HTTP\/1\.1 408/);
    });

    it('hangs up on a client that trickles its body', async () => {
      const { socket, closed } = connect();
      socket.write(`POST ${VERIFY} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"key":"`);
      const trickle = setInterval(() => socket.writable && socket.write('a'), 100);
      try {
        await within(closed, 10_000, 'trickled body');
      } finally {
        clearInterval(trickle);
      }
    });

    it('closes idle keep-alive connections after HTTP_KEEPALIVE_TIMEOUT_MS', async () => {
      const { socket, closed } = connect();
      socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const answer = await within(closed, 10_000, 'idle keep-alive');
      assert.match(answer, /^HTTP\/1\.1 200/);
    });

    it('keeps a live agent channel open well past the request timeout', async () => {
      const cluster = await createCluster(server.api);
      const agent = await registerAgent(server.api, { cluster });
      const stream = await StreamAgent.connect(server, agent);
      try {
        await sleep(2_500);
        assert.equal(stream.socket.readyState, stream.socket.OPEN);
        const pong = new Promise((resolve) => stream.socket.once('pong', resolve));
        stream.socket.ping();
        await within(pong, 5_000, 'pong');
        // The server still reaches the node over it.
        const command = await server.api.post('/api/v1/commands', { command_text: 'uptime', targeting: { type: 'nodes', node_ids: [agent.nodeId] } });
        assert.equal(command.status, 201, command.text);
        await stream.waitFor((f) => f.type === 'execution', 10_000);
      } finally {
        await stream.close();
      }
    });
  });
}
