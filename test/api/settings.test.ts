/**
 * Settings (manager spec §5.5): the spec's keys, ranges and defaults (an environment variable that
 * already set the same thing is the default), all-or-nothing saves, and behaviour that follows a
 * save: event and audit retention, the silence threshold of the node sweep, on every instance.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeEvents, registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const DAY_MS = 86_400_000;

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(50);
  }
}

const put = (server: TestServer, settings: Record<string, unknown>) => server.api.request('PUT', '/api/v1/settings', { body: { settings } });
const current = async (server: TestServer) => (await server.api.get('/api/v1/settings')).body.data;

for (const engine of testEngines()) {
  describe(`settings [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { NODE_UNREACHABLE_AFTER_MS: '600000', NODE_SWEEP_INTERVAL_MS: '100', AGENT_PING_INTERVAL_MS: '20000' });
    });
    after(() => server.stop());

    it("answers every key: the spec's defaults, or the environment's where it already set the same thing", async () => {
      const res = await server.api.get('/api/v1/settings');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data, {
        events_retention_days: 30,
        ws_keepalive_interval_secs: 20,
        session_lifetime_hours: 24,
        max_login_attempts: 5,
        node_offline_threshold_secs: 600,
        stats_broadcast_interval_ms: 1000,
      });
      assert.deepEqual(server.ctx.settings.policy(), { sessionLifetimeHours: 24, maxLoginAttempts: 5 });
    });

    it('saves the given keys and answers all of them, recorded in the audit log', async () => {
      const res = await put(server, { session_lifetime_hours: 48, max_login_attempts: 3 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.data.session_lifetime_hours, 48);
      assert.equal(res.body.data.max_login_attempts, 3);
      assert.equal(res.body.data.events_retention_days, 30);
      assert.deepEqual(await current(server), res.body.data);
      assert.deepEqual(server.ctx.settings.policy(), { sessionLifetimeHours: 48, maxLoginAttempts: 3 });

      const audit = (await server.api.get('/api/v1/audit?action=settings.update')).body.data;
      assert.equal(audit[0].status, 200);
      assert.deepEqual(audit[0].details, { settings: { session_lifetime_hours: 48, max_login_attempts: 3 } });
    });

    it('refuses an unknown key or a value out of range, naming the key, and saves none of the batch', async () => {
      const before = await current(server);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ max_login_attempts: 7, events_retention_days: 0 }, 'settings/events_retention_days'],
        [{ max_login_attempts: 7, events_retention_days: 366 }, 'settings/events_retention_days'],
        [{ max_login_attempts: 7, node_offline_threshold_secs: 4 }, 'settings/node_offline_threshold_secs'],
        [{ max_login_attempts: 7, stats_broadcast_interval_ms: 60001 }, 'settings/stats_broadcast_interval_ms'],
        [{ max_login_attempts: 7, session_lifetime_hours: 1.5 }, 'settings/session_lifetime_hours'],
        [{ max_login_attempts: 7, ws_keepalive_interval_secs: '15' }, 'settings/ws_keepalive_interval_secs'],
        [{ max_login_attempts: 7, colour: 3 }, 'settings/colour'],
      ];
      for (const [settings, field] of cases) {
        const res = await put(server, settings);
        assert.equal(res.status, 400, JSON.stringify(settings));
        assert.equal(res.body.error.code, 'bad_request');
        assert.ok(field in res.body.error.details, `${field} in ${JSON.stringify(res.body.error.details)}`);
      }
      for (const body of [{}, { settings: null }, { settings: {}, extra: 1 }]) {
        assert.equal((await server.api.request('PUT', '/api/v1/settings', { body })).status, 400, JSON.stringify(body));
      }
      assert.deepEqual(await current(server), before);
      assert.equal(server.ctx.settings.policy().maxLoginAttempts, before.max_login_attempts);
    });

    it('refuses callers without a key', async () => {
      assert.equal((await server.api.withToken(null).get('/api/v1/settings')).status, 401);
      assert.equal((await server.api.withToken('wrong').request('PUT', '/api/v1/settings', { body: { settings: { max_login_attempts: 9 } } })).status, 401);
      assert.notEqual((await current(server)).max_login_attempts, 9);
    });

    it('prunes events and audit rows by events_retention_days', async () => {
      const cluster = await createCluster(server.api);
      await registerAgent(server.api, { cluster });
      await server.ctx.relay.flush();
      const twoDaysLater = Date.now() + 2 * DAY_MS;
      assert.equal(await server.ctx.eventRetention.prune(twoDaysLater), 0, 'kept for 30 days');
      assert.equal(await server.ctx.audit.prune(twoDaysLater), 0, 'kept for 30 days');

      assert.equal((await put(server, { events_retention_days: 1 })).status, 200);
      await server.ctx.relay.flush();
      assert.ok((await server.ctx.eventRetention.prune(twoDaysLater)) > 0);
      assert.ok((await server.ctx.audit.prune(twoDaysLater)) > 0);
      assert.equal((await server.api.get('/api/v1/audit')).body.meta.pagination.total_count, 0);
    });

    it('marks a silent node unreachable after node_offline_threshold_secs', async () => {
      const cluster = await createCluster(server.api);
      const agent = await registerAgent(server.api, { cluster });
      const status = async () => (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data.status;
      await server.ctx.scheduler.tick('nodes.sweep-unreachable');
      assert.equal(await status(), 'healthy', 'NODE_UNREACHABLE_AFTER_MS is 10 minutes');

      assert.equal((await put(server, { node_offline_threshold_secs: 5 })).status, 200);
      await waitFor(async () => (await status()) === 'unreachable');
      const changed = (await nodeEvents(server.ctx, agent.nodeId)).find((e) => e.type === 'edge.node.status_changed')!;
      const lastSeen = Date.parse(changed.data.last_seen_at);
      const at = Date.parse((changed as unknown as { time: string }).time);
      assert.ok(at - lastSeen >= 5000, `unreachable ${at - lastSeen} ms after it was last seen`);
    });
  });

  describe(`settings on two instances [${engine}]`, () => {
    let a: TestServer;
    let b: TestServer;
    before(async () => {
      const env = { NODEPLANE_SECRET_KEY: randomBytes(32).toString('base64') };
      a = await startServer(engine, env);
      // SQLite's signal bus is in-process: the other instance learns from its periodic re-read.
      b = await startServer(engine, engine === 'sqlite' ? { ...env, INSTANCE_HEARTBEAT_MS: '200' } : env, { databaseUrl: a.databaseUrl });
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
    });

    it('a save on one instance is served and obeyed by the other', async () => {
      const res = await put(a, { events_retention_days: 1, session_lifetime_hours: 2 });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(await current(b), res.body.data);

      await waitFor(() => b.ctx.settings.policy().sessionLifetimeHours === 2);
      await createCluster(b.api);
      await b.ctx.relay.flush();
      await a.ctx.relay.flush();
      assert.ok((await b.ctx.eventRetention.prune(Date.now() + 2 * DAY_MS)) > 0, 'the other instance prunes by the saved retention');
    });
  });
}
