/**
 * The optional event broker (edge-admin spec §11.5) against the real servers on this machine:
 * NATS (subject = type), Redis pub/sub (channel = type) and Mosquitto (topic = type with dots as
 * slashes, QoS 1). A subscriber sees every event of the outbox with the exact stored bytes, the
 * admin metrics count the publishes, and a broker that is down when the events happen gets them
 * once it is up (at-least-once relay). Enabling the broker on a server with history publishes
 * what happens from then on, not the history.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect as mqttConnect } from 'mqtt';
import { connect as natsConnect } from 'nats';
import { createClient } from 'redis';
import { registerAgent } from '../helpers/agents.ts';
import { commitVerifiedEvent, createCluster } from '../helpers/factories.ts';
import { openDatabase } from '../../src/server/db/dialect.ts';
import { freePort, ServerProcess, until, waitForExit } from '../helpers/processes.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

interface Received {
  channel: string;
  payload: Buffer;
}

interface Subscriber {
  received: Received[];
  close(): Promise<void>;
}

/** Subscribes to every event type on the broker at `url`, the way a consumer would. */
async function subscribe(url: string): Promise<Subscriber> {
  const received: Received[] = [];
  const scheme = new URL(url).protocol;
  if (scheme === 'nats:') {
    const nc = await natsConnect({ servers: url });
    const sub = nc.subscribe('>');
    void (async () => {
      for await (const m of sub) received.push({ channel: m.subject, payload: Buffer.from(m.data) });
    })();
    await nc.flush();
    return { received, close: () => nc.close() };
  }
  if (scheme === 'redis:') {
    // No reconnecting: a broker that is not up yet should fail the attempt, not hang it.
    const client = createClient({ url, socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    await client.connect();
    await client.pSubscribe('*', (message, channel) => received.push({ channel: channel.toString(), payload: message }), true);
    return { received, close: async () => client.destroy() };
  }
  const client = mqttConnect(url, { clientId: `nodeplane-test-${randomBytes(4).toString('hex')}` });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('message', (topic, payload) => received.push({ channel: topic, payload }));
  await client.subscribeAsync('#', { qos: 1 });
  return { received, close: () => client.endAsync(true) };
}

const channelOf = (url: string, type: string) => (url.startsWith('mqtt') ? type.replaceAll('.', '/') : type);

/** Generates events the real way: a cluster, an agent enrolling and registering, a bad key. */
async function makeEvents(server: TestServer): Promise<void> {
  const cluster = await createCluster(server.api);
  await registerAgent(server.api, { cluster: cluster.name });
  await commitVerifiedEvent(server.api);
}

const storedEvents = (server: TestServer) => server.ctx.database.db.selectFrom('events').select(['id', 'type', 'envelope']).orderBy('seq').execute();

/** Messages that carry one of this server's events (other suites publish on the same brokers). */
function ours(subscriber: Subscriber, ids: Set<string>): Received[] {
  return subscriber.received.filter((m) => {
    try {
      return ids.has(JSON.parse(m.payload.toString('utf8')).id);
    } catch {
      return false;
    }
  });
}

const BROKERS = ['nats://127.0.0.1:4222', 'redis://127.0.0.1:6379', 'mqtt://127.0.0.1:1883'];

for (const engine of testEngines()) {
  for (const brokerUrl of BROKERS) {
    describe(`event broker ${new URL(brokerUrl).protocol.slice(0, -1)} [${engine}]`, () => {
      let server: TestServer;
      let subscriber: Subscriber;
      before(async () => {
        subscriber = await subscribe(brokerUrl);
        server = await startServer(engine, { EVENT_BROKER_URL: brokerUrl });
      });
      after(async () => {
        await server.stop();
        await subscriber.close();
      });

      it('publishes every event with its exact bytes on the channel named after its type', async () => {
        await makeEvents(server);
        const events = await storedEvents(server);
        assert.ok(events.length >= 3);
        const ids = new Set(events.map((e) => e.id));
        await until(async () => ours(subscriber, ids).length >= events.length, 'every event on the broker');
        await new Promise((r) => setTimeout(r, 300));
        const messages = ours(subscriber, ids);
        for (const event of events) {
          const got = messages.filter((m) => JSON.parse(m.payload.toString('utf8')).id === event.id);
          assert.ok(got.length >= 1, event.type);
          for (const m of got) {
            assert.equal(m.channel, channelOf(brokerUrl, event.type));
            assert.ok(m.payload.equals(Buffer.from(event.envelope, 'utf8')), `${event.type}: payload differs from the stored envelope`);
          }
        }

        const metrics = (await server.api.get('/api/v1/admins/me/metrics')).body.data.event_broker;
        assert.equal(metrics.enabled, true);
        assert.equal(metrics.enqueues_total, events.length);
        assert.equal(metrics.publishes_ok_total, events.length);
        assert.equal(metrics.publishes_total, metrics.publishes_ok_total + metrics.publishes_error_total);
        const raw = await server.api.get('/api/v1/admins/me/metrics/raw');
        assert.match(raw.text, new RegExp(`^nodeplane_event_broker_publishes_total\\{result="ok"\\} ${events.length}$`, 'm'));
      });
    });
  }

  describe(`event broker at-least-once [${engine}]`, () => {
    let server: TestServer;
    let redis: ChildProcess | null = null;
    let port = 0;
    before(async () => {
      port = await freePort();
      server = await startServer(engine, { EVENT_BROKER_URL: `redis://127.0.0.1:${port}` });
    });
    after(async () => {
      await server.stop();
      if (redis) {
        redis.kill('SIGTERM');
        await waitForExit(redis);
      }
    });

    it('keeps events while the broker is down and publishes them once it is up', async () => {
      await makeEvents(server);
      const events = await storedEvents(server);
      await until(async () => {
        const m = (await server.api.get('/api/v1/admins/me/metrics')).body.data.event_broker;
        return m.enqueues_total === events.length && m.publishes_error_total > 0 && m.publishes_ok_total === 0;
      }, 'failed publishes while the broker is down');
      const queue = (await server.api.get('/api/v1/admins/me/metrics')).body.data.oban_queues.find((q: any) => q.queue === 'event_broker');
      assert.ok(queue.retryable + queue.available + queue.executing >= 1, JSON.stringify(queue));

      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const subscriber = await until(async () => subscribe(`redis://127.0.0.1:${port}`), 'our redis-server up');
      try {
        const ids = new Set(events.map((e) => e.id));
        await until(async () => ours(subscriber, ids).length >= events.length, 'events published after the broker came up', 40_000);
        for (const event of events) {
          const got = ours(subscriber, ids).find((m) => JSON.parse(m.payload.toString('utf8')).id === event.id);
          assert.ok(got!.payload.equals(Buffer.from(event.envelope, 'utf8')));
          assert.equal(got!.channel, event.type);
        }
        const m = (await server.api.get('/api/v1/admins/me/metrics')).body.data.event_broker;
        assert.equal(m.publishes_ok_total, events.length);
      } finally {
        await subscriber.close();
      }
    });
  });

  describe(`event broker enabled later [${engine}]`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await ServerProcess.create(engine);
    });
    after(() => server.destroy());

    it('publishes what happens after it is enabled, not the history before', async () => {
      const verify = () => commitVerifiedEvent(server.api);
      for (let i = 0; i < 3; i++) assert.equal((await verify()).status, 200);
      await server.stop();
      const subscriber = await subscribe('nats://127.0.0.1:4222');
      const database = openDatabase(server.databaseUrl, { poolSize: 1 });
      try {
        await server.start({ EVENT_BROKER_URL: 'nats://127.0.0.1:4222' });
        await verify();
        // The setup's writes (a cluster, an enrollment key) are audited too; the verifications are what count here.
        const events = await database.db.selectFrom('events').select(['id', 'envelope']).where('type', '<>', 'audit.recorded').orderBy('seq').execute();
        assert.equal(events.length, 4);
        const ids = new Set(events.map((e) => e.id));
        await until(async () => ours(subscriber, ids).length >= 1, 'the new event on the broker');
        // A restart keeps the boundary where it was.
        await server.stop();
        await server.start();
        await verify();
        await until(
          async () => ours(subscriber, new Set([...ids, ...(await database.db.selectFrom('events').select('id').execute()).map((e) => e.id)])).length >= 2,
          'the next event',
        );
        await new Promise((r) => setTimeout(r, 500));
        const published = subscriber.received.map((m) => JSON.parse(m.payload.toString('utf8')).id as string);
        for (const old of events.slice(0, 3)) assert.ok(!published.includes(old.id), 'history was published');
        assert.ok(published.includes(events[3]!.id));
      } finally {
        await subscriber.close();
        await database.close();
      }
    });
  });
}
