/**
 * Core node traffic pushes over real HTTP: per-minute usage with subscription counters and limits,
 * outbound counters, session events, idempotency keys, and the admin reads of what was stored.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { MAX_INGEST_BATCH } from '../../src/contract/core-node/ingest.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createProtocol, createSubscription as createApiSubscription, createUser, registeredNode } from '../helpers/vpn-admin.ts';
import {
  type CoreNodeFixture,
  createCoreNode,
  createNodeProtocol,
  createOutbound,
  createSubscription,
  createVpnUser,
  grant,
  readSubscription,
  type VpnFixtures,
} from '../helpers/vpn.ts';

const MINUTE = '2025-06-09T08:15:00.000Z';

for (const engine of testEngines()) {
  describe(`Core node traffic ingest [${engine}]`, () => {
    let server: TestServer;
    let f: VpnFixtures;
    let node: CoreNodeFixture;
    let other: CoreNodeFixture;
    let vless: { id: number };
    let trojan: { id: number };
    let othersProtocol: { id: number };

    before(async () => {
      server = await startServer(engine);
      f = { db: server.ctx.database.db, secrets: server.ctx.secrets };
      node = await createCoreNode(f);
      other = await createCoreNode(f);
      vless = await createNodeProtocol(f, node.nodeId, { protocol: 'vless' });
      trojan = await createNodeProtocol(f, node.nodeId, { protocol: 'trojan', security: 'tls' });
      othersProtocol = await createNodeProtocol(f, other.nodeId, { protocol: 'vless' });
    });
    after(() => server.stop());

    const push = async (path: string, body: unknown, options: { key?: string | null; idempotencyKey?: string; raw?: string } = {}) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const key = options.key === undefined ? node.authKey : options.key;
      if (key !== null) headers['x-node-auth-key'] = key;
      if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
      const res = await fetch(`${server.url}/node${path}`, { method: 'POST', headers, body: options.raw ?? JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };

    /** A subscription granted on every protocol these tests push for: the only kind a node may charge. */
    const grantedSubscription = async (userId: number, overrides: Parameters<typeof createSubscription>[2] = {}) => {
      const sub = await createSubscription(f, userId, overrides);
      for (const p of [vless, trojan, othersProtocol]) await grant(f, sub.id, p.id);
      return sub;
    };

    const entry = (o: Record<string, unknown>) => ({ nodeProtocolId: vless.id, bytesUp: 100, bytesDown: 200, recordedAt: MINUTE, ...o });

    const countRows = async (table: 'usage_records' | 'session_events' | 'ingest_batches' | 'events') => {
      const row = await f.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };
    const usageRows = (userId: number) =>
      f.db
        .selectFrom('usage_records')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('recorded_at')
        .orderBy('node_protocol_id')
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            node_id: r.node_id,
            node_protocol_id: Number(r.node_protocol_id),
            subscription_id: Number(r.subscription_id),
            recorded_at: r.recorded_at,
            bytes_up: Number(r.bytes_up),
            bytes_down: Number(r.bytes_down),
          })),
        );
    const limitedEvents = async () => {
      const rows = await f.db.selectFrom('events').select('envelope').where('type', '=', 'vpn.subscription.limited').execute();
      return rows.map((r) => JSON.parse(r.envelope).data);
    };

    describe('authentication', () => {
      it('refuses every ingest route without a valid x-node-auth-key and stores nothing', async () => {
        const user = await createVpnUser(f);
        const sub = await createSubscription(f, user.id);
        const before = await Promise.all([countRows('usage_records'), countRows('session_events')]);
        for (const key of [null, '', 'wrong-key', 'x'.repeat(600)]) {
          for (const [path, body] of [
            ['/usage', { entries: [entry({ userId: user.id, subscriptionId: sub.id })] }],
            ['/outbound-usage', { items: [{ tag: 'direct', bytesUp: 1, bytesDown: 1 }] }],
            ['/session-events', { events: [{ userId: user.id, protocol: 'vless', eventType: 'online', occurredAt: MINUTE }] }],
          ] as const) {
            const res = await push(path, body, { key });
            assert.equal(res.status, 401, `${path} with key ${String(key).slice(0, 10)}`);
            assert.deepEqual(res.body, { statusCode: 401, message: 'Invalid or missing node auth key', error: 'Unauthorized' });
          }
        }
        assert.deepEqual(await Promise.all([countRows('usage_records'), countRows('session_events')]), before);
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 0);
      });
    });

    describe('POST /node/usage', () => {
      it('stores per-minute rows (truncated to the minute) and adds to the subscription counters', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const res = await push('/usage', {
          entries: [
            entry({ userId: user.id, subscriptionId: sub.id, recordedAt: '2025-06-09T08:15:42.123Z' }),
            entry({ userId: user.id, subscriptionId: sub.id, nodeProtocolId: trojan.id, bytesUp: 5, bytesDown: 7, recordedAt: '2025-06-09T10:16:59+02:00' }),
          ],
        });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, { ok: true });
        assert.deepEqual(await usageRows(user.id), [
          {
            node_id: node.nodeId,
            node_protocol_id: vless.id,
            subscription_id: sub.id,
            recorded_at: '2025-06-09T08:15:00.000Z',
            bytes_up: 100,
            bytes_down: 200,
          },
          { node_id: node.nodeId, node_protocol_id: trojan.id, subscription_id: sub.id, recorded_at: '2025-06-09T08:16:00.000Z', bytes_up: 5, bytes_down: 7 },
        ]);
        const counters = await readSubscription(f, sub.id);
        assert.deepEqual([counters.used_up_bytes, counters.used_down_bytes, counters.lifetime_used_bytes, counters.status], [105, 207, 312, 'active']);
      });

      it('adds pushes of the same minute together, within one batch and across batches', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const e = (up: number, down: number, at: string) => entry({ userId: user.id, subscriptionId: sub.id, bytesUp: up, bytesDown: down, recordedAt: at });
        assert.equal((await push('/usage', { entries: [e(1, 2, '2025-06-09T08:15:01Z'), e(10, 20, '2025-06-09T08:15:59Z')] })).status, 200);
        assert.equal((await push('/usage', { entries: [e(100, 200, '2025-06-09T08:15:30Z')] })).status, 200);
        const rows = await usageRows(user.id);
        assert.equal(rows.length, 1);
        assert.deepEqual([rows[0]!.bytes_up, rows[0]!.bytes_down, rows[0]!.recorded_at], [111, 222, MINUTE]);
        const counters = await readSubscription(f, sub.id);
        assert.deepEqual([counters.used_up_bytes, counters.used_down_bytes, counters.lifetime_used_bytes], [111, 222, 333]);
      });

      it('stores entries without a subscription, or for a deleted one, unattributed and counts them nowhere', async () => {
        const user = await createVpnUser(f);
        const sub = await createSubscription(f, user.id);
        const res = await push('/usage', {
          entries: [
            entry({ userId: user.id }),
            entry({ userId: user.id, subscriptionId: null, nodeProtocolId: trojan.id }),
            entry({ userId: user.id, subscriptionId: 987654, recordedAt: '2025-06-09T08:20:00Z' }),
          ],
        });
        assert.equal(res.status, 200);
        const rows = await usageRows(user.id);
        assert.deepEqual(
          rows.map((r) => [r.node_protocol_id, r.subscription_id, r.recorded_at, r.bytes_up]),
          [
            [vless.id, 0, MINUTE, 100],
            [trojan.id, 0, MINUTE, 100],
            [vless.id, 0, '2025-06-09T08:20:00.000Z', 100],
          ],
        );
        assert.equal((await readSubscription(f, sub.id)).lifetime_used_bytes, 0);
        // Users the control plane does not know (deleted since the node's last config) are still recorded.
        assert.equal((await push('/usage', { entries: [entry({ userId: 2_000_000_000 })] })).status, 200);
        assert.equal((await usageRows(2_000_000_000)).length, 1);
      });

      it("refuses the whole batch when an entry names another node's protocol or an unknown one", async () => {
        const user = await createVpnUser(f);
        const sub = await createSubscription(f, user.id);
        for (const bad of [othersProtocol.id, 999_999]) {
          const res = await push('/usage', {
            entries: [entry({ userId: user.id, subscriptionId: sub.id }), entry({ userId: user.id, subscriptionId: sub.id, nodeProtocolId: bad })],
          });
          assert.equal(res.status, 400);
          assert.equal(res.body.error, 'Bad Request');
          assert.deepEqual(res.body.message, [`entries/1/nodeProtocolId: node protocol ${bad} does not belong to this node`]);
        }
        assert.deepEqual(await usageRows(user.id), []);
        assert.equal((await readSubscription(f, sub.id)).lifetime_used_bytes, 0);
        // The same entry pushed by the node that owns the protocol is fine.
        assert.equal(
          (await push('/usage', { entries: [entry({ userId: user.id, subscriptionId: sub.id, nodeProtocolId: othersProtocol.id })] }, { key: other.authKey }))
            .status,
          200,
        );
        assert.deepEqual(
          (await usageRows(user.id)).map((r) => r.node_id),
          [other.nodeId],
        );
      });

      it('refuses the whole batch when a subscription belongs to another user', async () => {
        const user = await createVpnUser(f);
        const victim = await createVpnUser(f);
        const victimSub = await createSubscription(f, victim.id);
        const res = await push('/usage', { entries: [entry({ userId: user.id }), entry({ userId: user.id, subscriptionId: victimSub.id })] });
        assert.equal(res.status, 400);
        assert.deepEqual(res.body.message, [`entries/1/subscriptionId: subscription ${victimSub.id} does not belong to user ${user.id}`]);
        assert.deepEqual(await usageRows(user.id), []);
        assert.equal((await readSubscription(f, victimSub.id)).lifetime_used_bytes, 0);
      });

      it('rejects hostile values with a 400 that names the field, storing nothing', async () => {
        const user = await createVpnUser(f);
        const before = await countRows('usage_records');
        const cases: Array<[string, unknown, RegExp]> = [
          ['negative bytes', { entries: [entry({ userId: user.id, bytesUp: -1 })] }, /entries\/0\/bytesUp/],
          ['fractional bytes', { entries: [entry({ userId: user.id, bytesDown: 1.5 })] }, /entries\/0\/bytesDown: Invalid integer/],
          ['bytes beyond 2^53', { entries: [entry({ userId: user.id, bytesUp: 2 ** 53 })] }, /entries\/0\/bytesUp: .* larger than maximum 9007199254740991/],
          ['astronomic bytes', { entries: [entry({ userId: user.id, bytesUp: 1e300 })] }, /entries\/0\/bytesUp/],
          ['bytes as string', { entries: [entry({ userId: user.id, bytesUp: '12' })] }, /entries\/0\/bytesUp: Invalid integer/],
          ['user id 0', { entries: [entry({ userId: 0 })] }, /entries\/0\/userId/],
          ['user id beyond int32', { entries: [entry({ userId: 2 ** 31 })] }, /entries\/0\/userId/],
          ['missing user id', { entries: [{ nodeProtocolId: vless.id, bytesUp: 1, bytesDown: 1, recordedAt: MINUTE }] }, /entries\/0\/userId: Missing field/],
          ['subscription id as string', { entries: [entry({ userId: user.id, subscriptionId: '5' })] }, /entries\/0\/subscriptionId/],
          ['word for a date', { entries: [entry({ userId: user.id, recordedAt: 'yesterday' })] }, /entries\/0\/recordedAt: Invalid format/],
          ['February 30th', { entries: [entry({ userId: user.id, recordedAt: '2025-02-30T00:00:00Z' })] }, /entries\/0\/recordedAt/],
          ['no time zone', { entries: [entry({ userId: user.id, recordedAt: '2025-06-09T08:15:00' })] }, /entries\/0\/recordedAt/],
          ['leap second', { entries: [entry({ userId: user.id, recordedAt: '2016-12-31T23:59:60Z' })] }, /entries\/0\/recordedAt: Invalid format/],
          ['year 1900', { entries: [entry({ userId: user.id, recordedAt: '1900-01-01T00:00:00Z' })] }, /entries\/0\/recordedAt: is before 2000-01-01/],
          [
            'far future',
            { entries: [entry({ userId: user.id, recordedAt: '2999-01-01T00:00:00Z' })] },
            /entries\/0\/recordedAt: is more than a day in the future/,
          ],
          ['entries not an array', { entries: { 0: entry({ userId: user.id }) } }, /entries: Invalid array/],
          ['missing entries', {}, /entries: Missing field/],
          ['null body', null, /.+/],
        ];
        for (const [what, body, message] of cases) {
          const res = await push('/usage', body);
          assert.equal(res.status, 400, what);
          assert.equal(res.body.statusCode, 400, what);
          const messages = [res.body.message].flat().join('\n');
          assert.match(messages, message, `${what}: ${messages}`);
        }
        const invalidJson = await push('/usage', null, { raw: '{"entries": [' });
        assert.deepEqual(invalidJson.body, { statusCode: 400, message: 'Invalid JSON body', error: 'Bad Request' });
        assert.equal(await countRows('usage_records'), before);
      });

      it(`bounds the batch at ${MAX_INGEST_BATCH} entries and accepts a full one`, async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const many = (n: number) =>
          Array.from({ length: n }, (_, i) =>
            entry({
              userId: user.id,
              subscriptionId: sub.id,
              bytesUp: 1,
              bytesDown: 2,
              recordedAt: new Date(Date.parse('2025-06-01T00:00:00Z') + i * 60_000).toISOString(),
            }),
          );
        const tooMany = await push('/usage', { entries: many(MAX_INGEST_BATCH + 1) });
        assert.equal(tooMany.status, 400);
        assert.match([tooMany.body.message].flat().join(), /entries: Array length 5001 is larger than maxItems: 5000/);
        assert.deepEqual(await usageRows(user.id), []);
        const full = await push('/usage', { entries: many(MAX_INGEST_BATCH) });
        assert.equal(full.status, 200);
        assert.equal((await usageRows(user.id)).length, MAX_INGEST_BATCH);
        const counters = await readSubscription(f, sub.id);
        assert.deepEqual(
          [counters.used_up_bytes, counters.used_down_bytes, counters.lifetime_used_bytes],
          [MAX_INGEST_BATCH, 2 * MAX_INGEST_BATCH, 3 * MAX_INGEST_BATCH],
        );
        assert.equal((await push('/usage', { entries: [] })).status, 200);
      });

      it('pins counters at 2^53-1 instead of overflowing', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const max = Number.MAX_SAFE_INTEGER;
        const big = entry({ userId: user.id, subscriptionId: sub.id, bytesUp: max, bytesDown: max });
        assert.equal((await push('/usage', { entries: [big, big, big] })).status, 200);
        assert.equal((await push('/usage', { entries: [big] })).status, 200);
        const [row] = await usageRows(user.id);
        assert.deepEqual([row!.bytes_up, row!.bytes_down], [max, max]);
        const counters = await readSubscription(f, sub.id);
        assert.deepEqual([counters.used_up_bytes, counters.used_down_bytes, counters.lifetime_used_bytes], [max, max, max]);
      });

      it('limits a subscription that reaches its traffic limit (up + down), once, and keeps counting', async () => {
        const user = await createVpnUser(f);
        const sub = await createSubscription(f, user.id, { traffic_limit_bytes: 1000 });
        const unlimited = await createSubscription(f, user.id, { traffic_limit_bytes: 0 });
        const disabled = await createSubscription(f, user.id, { traffic_limit_bytes: 10, status: 'disabled' });
        await grant(f, sub.id, vless.id);
        const eventsBefore = (await limitedEvents()).length;
        const config = async () => {
          const res = await fetch(`${server.url}/node/config/latest`, { headers: { 'x-node-auth-key': node.authKey } });
          assert.equal(res.status, 200);
          return (await res.json()) as { revision: number; clientMap: Record<string, unknown> };
        };
        const served = await config();
        assert.deepEqual(served.clientMap[sub.link_uuid], { userId: user.id, subscriptionId: sub.id });

        assert.equal((await push('/usage', { entries: [entry({ userId: user.id, subscriptionId: sub.id, bytesUp: 400, bytesDown: 500 })] })).status, 200);
        assert.equal((await readSubscription(f, sub.id)).status, 'active', '900 of 1000 bytes');

        const crossing = [
          entry({ userId: user.id, subscriptionId: sub.id, bytesUp: 60, bytesDown: 40, recordedAt: '2025-06-09T08:16:00Z' }),
          entry({ userId: user.id, subscriptionId: unlimited.id, bytesUp: 10 ** 12, bytesDown: 10 ** 12 }),
          entry({ userId: user.id, subscriptionId: disabled.id, bytesUp: 100, bytesDown: 100 }),
        ];
        assert.equal((await push('/usage', { entries: crossing })).status, 200);
        const limited = await readSubscription(f, sub.id);
        assert.equal(limited.status, 'limited');
        assert.equal(limited.used_up_bytes + limited.used_down_bytes, 1000);
        assert.equal((await readSubscription(f, unlimited.id)).status, 'active');
        assert.equal((await readSubscription(f, disabled.id)).status, 'disabled', 'only active subscriptions become limited');

        // The limit takes effect on the node: a new revision without the subscription's client.
        const after = await config();
        assert.ok(after.revision > served.revision, `revision ${served.revision} → ${after.revision}`);
        assert.equal(after.clientMap[sub.link_uuid], undefined);
        const synced = await f.db.selectFrom('core_nodes').select(['revision', 'sync_status']).where('node_id', '=', node.nodeId).executeTakeFirstOrThrow();
        assert.deepEqual([Number(synced.revision), synced.sync_status], [after.revision, 'pending']);

        const events = (await limitedEvents()).slice(eventsBefore);
        assert.equal(events.length, 1);
        assert.deepEqual(
          { ...events[0], limited_at: undefined },
          { subscription_id: sub.id, user_id: user.id, used_bytes: 1000, traffic_limit_bytes: 1000, limited_at: undefined },
        );
        assert.ok(Math.abs(Date.parse(events[0].limited_at) - Date.now()) < 60_000);
        assert.ok(!JSON.stringify(events[0]).includes(sub.link_uuid), 'no credential in the event');

        // Traffic still in flight after the limit is still counted, without a second event.
        assert.equal((await push('/usage', { entries: [entry({ userId: user.id, subscriptionId: sub.id, bytesUp: 1, bytesDown: 1 })] })).status, 200);
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 461);
        assert.equal((await limitedEvents()).length, eventsBefore + 1);
      });

      it('limits an active subscription already over a lowered limit on its next traffic', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id, { traffic_limit_bytes: 100, used_up_bytes: 500 });
        assert.equal((await push('/usage', { entries: [entry({ userId: user.id, subscriptionId: sub.id, bytesUp: 0, bytesDown: 1 })] })).status, 200);
        assert.equal((await readSubscription(f, sub.id)).status, 'limited');
      });
    });

    describe("attribution needs a grant on the entry's protocol", () => {
      // Built through the Admin API and the node face, the way an operator and an agent make them.
      const vpnProtocol = (nodeId: string) =>
        createProtocol(server.api, nodeId, { protocol: 'vless', port: 30000 + Math.floor(Math.random() * 20000), transport: 'tcp', security: 'none' });
      const subscriptionOf = async (id: number) => (await server.api.get(`/api/v1/vpn/subscriptions/${id}`)).body.data;
      const usageOf = async (userId: number) =>
        (await server.api.get(`/api/v1/vpn/usage?user_id=${userId}`)).body.data.map((r: any) => [r.node_protocol_id, r.subscription_id, r.bytes_up]);
      const revisionOf = async (nodeId: string) => (await server.api.get(`/api/v1/vpn/nodes/${nodeId}`)).body.data.revision as number;

      it("stores another node's subscription unattributed and moves no counter, so no node can limit it", async () => {
        const a = await registeredNode(server.api);
        const b = await registeredNode(server.api);
        const onA = await vpnProtocol(a.node.id);
        const onB = await vpnProtocol(b.node.id);
        const user = await createUser(server.api);
        const victim = await createApiSubscription(server.api, user.id, { traffic_limit_bytes: 1000, node_protocol_ids: [onB.id] });

        const forged = {
          entries: [{ nodeProtocolId: onA.id, userId: user.id, subscriptionId: victim.id, bytesUp: 10_000, bytesDown: 10_000, recordedAt: MINUTE }],
        };
        const res = await a.client.post('/usage', forged);
        assert.equal(res.status, 200, res.text);
        const after = await subscriptionOf(victim.id);
        assert.deepEqual([after.used_up_bytes, after.used_down_bytes, after.lifetime_used_bytes, after.status], [0, 0, 0, 'active']);
        assert.deepEqual(await usageOf(user.id), [[onA.id, null, 10_000]], 'the traffic is kept, attributed to no subscription');

        // The node that serves it still charges it.
        const honest = await b.client.post('/usage', { entries: [{ ...forged.entries[0], nodeProtocolId: onB.id, bytesUp: 1, bytesDown: 2 }] });
        assert.equal(honest.status, 200, honest.text);
        assert.equal((await subscriptionOf(victim.id)).used_bytes, 3);
      });

      for (const how of ['DELETE one grant', 'PUT the grant set']) {
        it(`counts a grant taken away (${how}) in the next revision only`, async () => {
          const a = await registeredNode(server.api);
          const kept = await vpnProtocol(a.node.id);
          const taken = await vpnProtocol(a.node.id);
          const user = await createUser(server.api);
          const sub = await createApiSubscription(server.api, user.id, { node_protocol_ids: [kept.id, taken.id] });
          const revision = await revisionOf(a.node.id);

          const removed = how.startsWith('DELETE')
            ? await server.api.delete(`/api/v1/vpn/subscriptions/${sub.id}/protocols/${taken.id}`)
            : await server.api.request('PUT', `/api/v1/vpn/subscriptions/${sub.id}/protocols`, { body: { node_protocol_ids: [kept.id] } });
          assert.ok(removed.status === 204 || removed.status === 200, removed.text);
          assert.equal(await revisionOf(a.node.id), revision + 1);

          // Traffic of the revision the node just left: still the subscription's.
          const late = (bytesUp: number) => ({
            entries: [{ nodeProtocolId: taken.id, userId: user.id, subscriptionId: sub.id, bytesUp, bytesDown: 0, recordedAt: MINUTE }],
          });
          assert.equal((await a.client.post('/usage', late(5))).status, 200);
          assert.equal((await subscriptionOf(sub.id)).used_up_bytes, 5);

          // Two revisions on, the grant is history: nothing more is charged through it.
          await vpnProtocol(a.node.id);
          assert.equal(await revisionOf(a.node.id), revision + 2);
          assert.equal((await a.client.post('/usage', late(7))).status, 200);
          assert.equal((await subscriptionOf(sub.id)).used_up_bytes, 5);
          assert.deepEqual(
            (await usageOf(user.id)).sort(),
            [
              [taken.id, null, 7],
              [taken.id, sub.id, 5],
            ].sort(),
          );
        });
      }
    });

    describe('Idempotency-Key', () => {
      it('counts a retried push once, per node and route, and a rejected push does not use up the key', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const body = { entries: [entry({ userId: user.id, subscriptionId: sub.id })] };
        for (let i = 0; i < 3; i++) {
          const res = await push('/usage', body, { idempotencyKey: 'batch-0001' });
          assert.deepEqual([res.status, res.body], [200, { ok: true }]);
        }
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 100);
        assert.equal((await usageRows(user.id))[0]!.bytes_up, 100);

        // Concurrent retries of one batch: still once.
        await Promise.all(Array.from({ length: 5 }, () => push('/usage', body, { idempotencyKey: 'batch-0002' })));
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 200);

        // Without a key every push counts; another node's keys are its own.
        await push('/usage', body);
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 300);
        const otherBody = { entries: [entry({ userId: user.id, subscriptionId: sub.id, nodeProtocolId: othersProtocol.id })] };
        assert.equal((await push('/usage', otherBody, { key: other.authKey, idempotencyKey: 'batch-0001' })).status, 200);
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 400);

        // A refused batch leaves its key unused, so the corrected retry is stored.
        const bad = { entries: [entry({ userId: user.id, subscriptionId: sub.id, nodeProtocolId: othersProtocol.id })] };
        assert.equal((await push('/usage', bad, { idempotencyKey: 'batch-0003' })).status, 400);
        assert.equal((await push('/usage', body, { idempotencyKey: 'batch-0003' })).status, 200);
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 500);

        // Keys are remembered per route.
        await createOutbound(f, node.nodeId, 'idem-out');
        for (let i = 0; i < 2; i++)
          assert.equal(
            (await push('/outbound-usage', { items: [{ tag: 'idem-out', bytesUp: 3, bytesDown: 4 }] }, { idempotencyKey: 'batch-0001' })).status,
            200,
          );
        const events = { events: [{ userId: user.id, protocol: 'vless', eventType: 'online', occurredAt: MINUTE }] };
        for (let i = 0; i < 2; i++) assert.equal((await push('/session-events', events, { idempotencyKey: 'batch-0001' })).status, 200);
        const out = await f.db
          .selectFrom('node_outbounds')
          .selectAll()
          .where('node_id', '=', node.nodeId)
          .where('tag', '=', 'idem-out')
          .executeTakeFirstOrThrow();
        assert.deepEqual([Number(out.traffic_bytes_up), Number(out.traffic_bytes_down)], [3, 4]);
        const stored = await f.db.selectFrom('session_events').select('id').where('user_id', '=', user.id).execute();
        assert.equal(stored.length, 1);
      });

      it('forgets keys after a day', async () => {
        const user = await createVpnUser(f);
        const sub = await grantedSubscription(user.id);
        const body = { entries: [entry({ userId: user.id, subscriptionId: sub.id })] };
        await push('/usage', body, { idempotencyKey: 'old-batch' });
        assert.equal(await server.ctx.usage.pruneBatchKeys(Date.now()), 0, 'nothing is a day old yet');
        assert.ok((await server.ctx.usage.pruneBatchKeys(Date.now() + 25 * 3600_000)) >= 1);
        await push('/usage', body, { idempotencyKey: 'old-batch' });
        assert.equal((await readSubscription(f, sub.id)).used_up_bytes, 200);
      });

      it('rejects malformed keys', async () => {
        for (const key of ['x'.repeat(256), 'has space', 'tab\tkey']) {
          const res = await push('/usage', { entries: [] }, { idempotencyKey: key });
          assert.equal(res.status, 400, JSON.stringify(key));
          assert.match([res.body.message].flat().join(), /idempotency-key/);
        }
      });
    });

    describe('POST /node/outbound-usage', () => {
      it("adds to this node's outbounds by tag and ignores tags it has no outbound for", async () => {
        await createOutbound(f, node.nodeId, 'warp', 'wireguard');
        await createOutbound(f, other.nodeId, 'warp', 'wireguard');
        const items = [
          { tag: 'warp', bytesUp: 10, bytesDown: 20 },
          { tag: 'warp', bytesUp: 1, bytesDown: 2 },
          { tag: 'direct', bytesUp: 5000, bytesDown: 5000 },
          { tag: 'block', bytesUp: 0, bytesDown: 0 },
        ];
        assert.deepEqual((await push('/outbound-usage', { items })).body, { ok: true });
        assert.equal((await push('/outbound-usage', { items: [{ tag: 'warp', bytesUp: 100, bytesDown: 200 }] })).status, 200);
        const rows = await f.db.selectFrom('node_outbounds').selectAll().where('tag', 'in', ['warp', 'direct', 'block']).execute();
        const byNode = Object.fromEntries(
          rows.map((r) => [`${r.node_id === node.nodeId ? 'mine' : 'other'}:${r.tag}`, [Number(r.traffic_bytes_up), Number(r.traffic_bytes_down)]]),
        );
        assert.deepEqual(byNode, { 'mine:warp': [111, 222], 'other:warp': [0, 0] }, 'no row was created for direct/block');
      });

      it('rejects hostile items and stores nothing', async () => {
        await createOutbound(f, node.nodeId, 'hostile');
        for (const item of [
          { tag: '', bytesUp: 1, bytesDown: 1 },
          { tag: 'hostile', bytesUp: -5, bytesDown: 1 },
          { tag: 'hostile', bytesUp: 1, bytesDown: 2 ** 60 },
          { tag: 'x'.repeat(256), bytesUp: 1, bytesDown: 1 },
          { tag: 'hostile', bytesUp: 1 },
        ]) {
          const res = await push('/outbound-usage', { items: [{ tag: 'hostile', bytesUp: 1, bytesDown: 1 }, item] });
          assert.equal(res.status, 400, JSON.stringify(item).slice(0, 80));
          assert.match([res.body.message].flat().join(), /items\/1\//);
        }
        const tooMany = await push('/outbound-usage', { items: Array.from({ length: 1001 }, () => ({ tag: 'hostile', bytesUp: 1, bytesDown: 1 })) });
        assert.equal(tooMany.status, 400);
        const row = await f.db
          .selectFrom('node_outbounds')
          .selectAll()
          .where('node_id', '=', node.nodeId)
          .where('tag', '=', 'hostile')
          .executeTakeFirstOrThrow();
        assert.equal(Number(row.traffic_bytes_up), 0);
      });
    });

    describe('POST /node/session-events', () => {
      it("stores events and moves the user's subscriptions served here with that protocol online and offline", async () => {
        const user = await createVpnUser(f);
        const served = await createSubscription(f, user.id);
        const servedToo = await createSubscription(f, user.id);
        const trojanOnly = await createSubscription(f, user.id);
        const elsewhere = await createSubscription(f, user.id);
        await grant(f, served.id, vless.id);
        await grant(f, servedToo.id, vless.id);
        await grant(f, trojanOnly.id, trojan.id);
        await grant(f, elsewhere.id, othersProtocol.id);

        const online = { userId: user.id, protocol: 'vless', eventType: 'online', occurredAt: '2025-06-09T08:00:00Z', ipAddress: '203.0.113.7' };
        assert.deepEqual((await push('/session-events', { events: [online] })).body, { ok: true });
        for (const sub of [served, servedToo]) {
          const s = await readSubscription(f, sub.id);
          assert.deepEqual([s.online, s.online_at, s.last_node_id], [1, '2025-06-09T08:00:00.000Z', node.nodeId]);
        }
        for (const sub of [trojanOnly, elsewhere]) assert.equal((await readSubscription(f, sub.id)).online, 0);

        const stored = await f.db.selectFrom('session_events').selectAll().where('user_id', '=', user.id).execute();
        assert.deepEqual(
          stored.map((e) => [e.node_id, e.protocol, e.event_type, e.occurred_at, e.ip_address]),
          [[node.nodeId, 'vless', 'online', '2025-06-09T08:00:00.000Z', '203.0.113.7']],
        );

        // An offline reported by a node that is not the subscription's last one hides nothing.
        await grant(f, served.id, othersProtocol.id);
        await push('/session-events', { events: [{ ...online, eventType: 'offline', occurredAt: '2025-06-09T08:05:00Z' }] }, { key: other.authKey });
        assert.equal((await readSubscription(f, served.id)).online, 1);

        // The newest event of the batch wins, whatever the order it arrives in.
        await push('/session-events', {
          events: [
            { ...online, eventType: 'offline', occurredAt: '2025-06-09T08:10:00Z' },
            { ...online, eventType: 'online', occurredAt: '2025-06-09T08:09:00Z' },
          ],
        });
        const s = await readSubscription(f, served.id);
        assert.deepEqual([s.online, s.online_at, s.last_node_id], [0, '2025-06-09T08:00:00.000Z', node.nodeId]);

        // A late online older than the stored one changes nothing.
        await push('/session-events', { events: [{ ...online, occurredAt: '2025-06-09T07:00:00Z' }] });
        assert.equal((await readSubscription(f, served.id)).online, 0);

        // Online elsewhere moves last_node_id to that node.
        await push('/session-events', { events: [{ ...online, occurredAt: '2025-06-09T09:00:00Z' }] }, { key: other.authKey });
        const moved = await readSubscription(f, served.id);
        assert.deepEqual([moved.online, moved.last_node_id], [1, other.nodeId]);
      });

      it('validates enums strictly (lowercase), addresses and dates', async () => {
        const user = await createVpnUser(f);
        const good = { userId: user.id, protocol: 'vless', eventType: 'online', occurredAt: MINUTE };
        const before = await countRows('session_events');
        for (const [what, event, field] of [
          ['uppercase protocol', { ...good, protocol: 'VLESS' }, 'protocol'],
          ['unknown protocol', { ...good, protocol: 'hysteria' }, 'protocol'],
          ['other event vocabulary', { ...good, eventType: 'connected' }, 'eventType'],
          ['capitalised event', { ...good, eventType: 'Online' }, 'eventType'],
          ['not an address', { ...good, ipAddress: 'example.com' }, 'ipAddress'],
          ['address with port', { ...good, ipAddress: '203.0.113.7:443' }, 'ipAddress'],
          ['malformed date', { ...good, occurredAt: '09/06/2025' }, 'occurredAt'],
          ['leap second', { ...good, occurredAt: '2016-12-31T23:59:60Z' }, 'occurredAt'],
        ] as const) {
          const res = await push('/session-events', { events: [good, event] });
          assert.equal(res.status, 400, what);
          assert.match([res.body.message].flat().join('\n'), new RegExp(`events/1/${field}`), what);
        }
        assert.equal((await push('/session-events', { events: [{ ...good, protocol: 'mtproto', ipAddress: '2001:db8::7' }] })).status, 200);
        assert.equal(await countRows('session_events'), before + 1);
      });
    });

    describe('admin reads', () => {
      let user: { id: number };
      let sub: { id: number };
      beforeEach(async () => {
        user = await createVpnUser(f);
        sub = await grantedSubscription(user.id);
        const at = (m: number) => `2025-07-01T10:${String(m).padStart(2, '0')}:00Z`;
        await push('/usage', {
          entries: [
            entry({ userId: user.id, subscriptionId: sub.id, recordedAt: at(1), bytesUp: 1 }),
            entry({ userId: user.id, subscriptionId: sub.id, recordedAt: at(2), bytesUp: 2, nodeProtocolId: trojan.id }),
            entry({ userId: user.id, recordedAt: at(3), bytesUp: 3 }),
          ],
        });
        await push(
          '/usage',
          { entries: [entry({ userId: user.id, subscriptionId: sub.id, recordedAt: '2025-07-02T00:00:00Z', bytesUp: 4, nodeProtocolId: othersProtocol.id })] },
          { key: other.authKey },
        );
        await push('/session-events', {
          events: [
            { userId: user.id, protocol: 'vless', eventType: 'online', occurredAt: at(1), ipAddress: '198.51.100.1' },
            { userId: user.id, protocol: 'vless', eventType: 'offline', occurredAt: at(30) },
          ],
        });
        await push(
          '/session-events',
          { events: [{ userId: user.id, protocol: 'trojan', eventType: 'online', occurredAt: '2025-07-02T00:00:00Z' }] },
          { key: other.authKey },
        );
      });

      const list = async (path: string) => {
        const res = await server.api.get(path);
        assert.equal(res.status, 200, res.text);
        return res.body;
      };

      it('lists usage records newest first with filters, ranges and pagination', async () => {
        const all = await list(`/api/v1/vpn/usage?user_id=${user.id}`);
        assert.deepEqual(
          all.data.map((r: any) => [r.recorded_at, r.bytes_up, r.subscription_id]),
          [
            ['2025-07-02T00:00:00Z', 4, sub.id],
            ['2025-07-01T10:03:00Z', 3, null],
            ['2025-07-01T10:02:00Z', 2, sub.id],
            ['2025-07-01T10:01:00Z', 1, sub.id],
          ],
        );
        assert.deepEqual(Object.keys(all.data[0]).sort(), [
          'bytes_down',
          'bytes_up',
          'id',
          'node_id',
          'node_protocol_id',
          'recorded_at',
          'subscription_id',
          'user_id',
        ]);
        assert.equal(all.meta.pagination.total_count, 4);

        assert.equal((await list(`/api/v1/vpn/usage?user_id=${user.id}&subscription_id=${sub.id}`)).data.length, 3);
        assert.deepEqual(
          (await list(`/api/v1/vpn/usage?user_id=${user.id}&node_id=${other.nodeId}`)).data.map((r: any) => r.bytes_up),
          [4],
        );
        assert.deepEqual(
          (await list(`/api/v1/vpn/usage?user_id=${user.id}&node_protocol_id=${trojan.id}`)).data.map((r: any) => r.bytes_up),
          [2],
        );
        assert.deepEqual(
          (await list(`/api/v1/vpn/usage?user_id=${user.id}&recorded_at__gte=2025-07-01T10:02:00Z&recorded_at__lte=2025-07-01T10:03:00Z`)).data.map(
            (r: any) => r.bytes_up,
          ),
          [3, 2],
        );
        assert.deepEqual(
          (await list(`/api/v1/vpn/usage?user_id=${user.id}&recorded_at__lte=2025-07-01`)).data.map((r: any) => r.bytes_up),
          [3, 2, 1],
          'a bare date covers its whole day',
        );
        assert.deepEqual(
          (await list(`/api/v1/vpn/usage?user_id=${user.id}&order_by=bytes_up&order_directions=asc`)).data.map((r: any) => r.bytes_up),
          [1, 2, 3, 4],
        );

        const page2 = await list(`/api/v1/vpn/usage?user_id=${user.id}&page=2&page_size=3`);
        assert.deepEqual(
          page2.data.map((r: any) => r.bytes_up),
          [1],
        );
        assert.deepEqual([page2.meta.pagination.has_prev, page2.meta.pagination.has_next, page2.meta.pagination.total_pages], [true, false, 2]);
      });

      it('lists session events with filters and ranges', async () => {
        const all = await list(`/api/v1/vpn/session_events?user_id=${user.id}`);
        assert.deepEqual(
          all.data.map((e: any) => [e.occurred_at, e.event_type, e.protocol, e.node_id === node.nodeId, e.ip_address]),
          [
            ['2025-07-02T00:00:00Z', 'online', 'trojan', false, null],
            ['2025-07-01T10:30:00Z', 'offline', 'vless', true, null],
            ['2025-07-01T10:01:00Z', 'online', 'vless', true, '198.51.100.1'],
          ],
        );
        assert.equal((await list(`/api/v1/vpn/session_events?user_id=${user.id}&event_type=offline`)).data.length, 1);
        assert.equal((await list(`/api/v1/vpn/session_events?user_id=${user.id}&node_id=${node.nodeId}`)).data.length, 2);
        assert.equal((await list(`/api/v1/vpn/session_events?user_id=${user.id}&protocol=trojan`)).data.length, 1);
        assert.equal(
          (await list(`/api/v1/vpn/session_events?user_id=${user.id}&occurred_at__gte=2025-07-01T10:15:00Z&occurred_at__lte=2025-07-01`)).data.length,
          1,
        );
      });

      it('requires the admin key and refuses unknown or malformed parameters', async () => {
        assert.equal((await server.api.withToken(null).get('/api/v1/vpn/usage')).status, 401);
        assert.equal((await server.api.withToken('wrong').get('/api/v1/vpn/session_events')).status, 401);
        for (const path of [
          '/api/v1/vpn/usage?inserted_at__gte=2025-01-01',
          '/api/v1/vpn/usage?user_id=abc',
          '/api/v1/vpn/usage?recorded_at__gte=soon',
          '/api/v1/vpn/session_events?event_type=connected',
          '/api/v1/vpn/session_events?node_id=1',
        ]) {
          const res = await server.api.get(path);
          assert.equal(res.status, 400, path);
          assert.equal(res.body.error.code, 'bad_request');
        }
      });
    });

    it('leaves no stray idempotency keys behind refused pushes', async () => {
      const before = await countRows('ingest_batches');
      await push('/usage', { entries: [entry({ userId: 1, nodeProtocolId: othersProtocol.id })] }, { idempotencyKey: 'refused-only' });
      assert.equal(await countRows('ingest_batches'), before);
      const rows = await sql<{ n: number }>`select count(*) as n from ingest_batches where idempotency_key = 'refused-only'`.execute(f.db);
      assert.equal(Number(rows.rows[0]!.n), 0);
    });
  });
}
