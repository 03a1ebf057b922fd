/**
 * A stranger's flood does not fill the audit log: refused unauthenticated calls and failed logins
 * are recorded one by one up to AUDIT_REFUSALS_PER_ADDRESS per client address and window, the rest
 * as one `auth.refusals_aggregated` row per address counting them by action. The window here is a
 * day, so it closes only when the flooded instance stops (stop() records what is pending): the
 * flood runs on a second instance and the log is read through the first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { login, signedIn } from '../helpers/operators.ts';
import { ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';

const LIMIT = 20;
const FLOOD = '203.0.113.7';
const BYSTANDER = '198.51.100.9';

for (const engine of testEngines()) {
  describe(`audit log under a flood of refusals [${engine}]`, () => {
    let server: TestServer;
    let flooded: TestServer;
    let stopFlooded: Promise<void> | null = null;
    const stopFloodedOnce = () => (stopFlooded ??= flooded.stop());

    /** Every audit row matching `query`, all pages. */
    const rows = async (query: string) => {
      const out: any[] = [];
      for (let page = 1; ; page++) {
        const res = await server.api.get(`/api/v1/audit?${query}&per_page=100&page=${page}`);
        assert.equal(res.status, 200, res.text);
        out.push(...res.body.data);
        if (!res.body.meta.pagination.has_next) return out;
      }
    };
    const from = (address: string) => async (query: string) => (await rows(query)).filter((r) => r.ip === address);

    before(async () => {
      const env = { AUDIT_REFUSALS_PER_ADDRESS: String(LIMIT), AUDIT_REFUSALS_WINDOW_MS: '86400000' };
      server = await startServer(engine, env);
      flooded = await startServer(engine, { ...env, NODEPLANE_SECRET_KEY: server.ctx.config.secretKey! }, { databaseUrl: server.databaseUrl });
    });
    after(async () => {
      await stopFloodedOnce();
      await server.stop();
    });

    it('records 200 refusals from one address as 20 rows and one aggregate; others and signed-in callers are recorded one by one', async () => {
      const stranger = new ApiClient(flooded.url, null, { 'x-forwarded-for': FLOOD });
      const bystander = new ApiClient(flooded.url, null, { 'x-forwarded-for': BYSTANDER });
      const viewer = await signedIn(server.api, { role: 'viewer' });
      const signedInFromFlood = new ApiClient(flooded.url, null, { ...viewer.headers, 'x-forwarded-for': FLOOD });

      // 30 failed logins (401, then 429 past the login limit), then 170 unauthenticated writes.
      for (let i = 0; i < 30; i++) assert.ok([401, 429].includes((await login(stranger, 'admin', 'guess', FLOOD)).status));
      for (let i = 0; i < 170; i++) assert.equal((await stranger.post('/api/v1/clusters', { name: `flood-${i}` })).status, 401);
      for (let i = 0; i < 3; i++) assert.equal((await bystander.post('/api/v1/clusters', { name: `other-${i}` })).status, 401);
      for (let i = 0; i < 25; i++) assert.equal((await signedInFromFlood.post('/api/v1/clusters', { name: `viewer-${i}` })).status, 403);

      const fromFlood = from(FLOOD);
      const individual = await fromFlood('actor_type=public');
      assert.equal(individual.length, LIMIT);
      assert.ok(
        individual.every((r) => r.action === 'auth.login_failed'),
        'the first 20 are the first 20 refusals',
      );
      assert.equal((await from(BYSTANDER)('actor_type=public&action=cluster.create')).length, 3, 'another address has its own allowance');
      const attributed = await fromFlood(`actor_id=${viewer.operator.id}&action=cluster.create`);
      assert.equal(attributed.length, 25, "a signed-in caller's refusals are never aggregated");
      assert.ok(attributed.every((r) => r.status === 403 && r.actor_type === 'operator'));

      await stopFloodedOnce();

      const [aggregate, ...more] = await fromFlood('action=auth.refusals_aggregated');
      assert.equal(more.length, 0);
      assert.equal(aggregate.actor_type, 'public');
      assert.equal(aggregate.details.refusals, 200 - LIMIT);
      assert.deepEqual(aggregate.details.actions, { 'auth.login_failed': 10, 'cluster.create': 170 });
      assert.ok(aggregate.details.first_at <= aggregate.details.last_at);
      assert.equal((await fromFlood('actor_type=public')).length, LIMIT + 1, 'nothing else was written for the flood');
      assert.equal((await from(BYSTANDER)('action=auth.refusals_aggregated')).length, 0);
    });
  });
}
