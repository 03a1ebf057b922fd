import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { registrationBody } from '../helpers/agents.ts';
import { createCluster, uniqueName } from '../helpers/factories.ts';

const SECOND_PRECISION = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const VERIFY = '/api/v1/agents/enrollment_keys/verify';

async function createKey(server: TestServer, clusterName: string, body?: Record<string, unknown>) {
  const res = await server.api.post(`/api/v1/clusters/${clusterName}/enrollment_keys`, body);
  if (res.status !== 201) throw new Error(`createKey: ${res.status} ${res.text}`);
  return res.body.data as { id: string; key: string; uses_remaining: number | null; name: string | null; cluster_name: string };
}

/** Nodes come from registration, which is not this module's; the inventory row is all the node limit needs. */
async function insertNodes(server: TestServer, clusterId: string, count: number) {
  const now = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    await server.ctx.database.db
      .insertInto('nodes')
      .values({ id, kind: 'edge-agent', name: `node-${id}`, cluster_id: clusterId, status: 'healthy', labels: '{}', inserted_at: now, updated_at: now })
      .execute();
  }
}

async function setKeyColumns(server: TestServer, id: string, values: Record<string, string | number | null>) {
  await server.ctx.database.db.updateTable('enrollment_keys').set(values).where('id', '=', id).execute();
}

async function lastEventSeq(server: TestServer): Promise<number> {
  const row = await server.ctx.database.db
    .selectFrom('events')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0);
}

async function verifiedEventsSince(server: TestServer, seq: number) {
  const rows = await server.ctx.database.db
    .selectFrom('events')
    .selectAll()
    .where('seq', '>', seq)
    .where('type', '=', 'edge.enrollment_key.verified')
    .orderBy('seq')
    .execute();
  return rows.map((r) => JSON.parse(r.envelope));
}

const verify = (server: TestServer, body: unknown) => server.api.withToken(null).post(VERIFY, body);

function decodeBlob(blob: string) {
  return JSON.parse(Buffer.from(blob, 'base64').toString('utf8'));
}

for (const engine of testEngines()) {
  describe(`enrollment keys API [${engine}]`, () => {
    let server: TestServer;
    let cluster: { id: string; name: string };
    before(async () => {
      server = await startServer(engine);
      cluster = await createCluster(server.api, { name: 'prod-east' });
    });
    after(() => server.stop());

    it('creates a single-use key by default, with a location and a blob carrying the admin URLs', async () => {
      const res = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys');
      assert.equal(res.status, 201);
      const k = res.body.data;
      assert.equal(res.headers.get('location'), `/api/v1/enrollment_keys/${k.id}`);
      assert.match(k.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.deepEqual(Object.keys(k).sort(), [
        'cluster_name',
        'expired_at',
        'id',
        'inserted_at',
        'key',
        'last_used_at',
        'name',
        'updated_at',
        'uses_remaining',
      ]);
      assert.equal(k.cluster_name, 'prod-east');
      assert.equal(k.name, null);
      assert.equal(k.uses_remaining, 1);
      assert.equal(k.expired_at, null);
      assert.equal(k.last_used_at, null);
      assert.match(k.inserted_at, SECOND_PRECISION);
      assert.match(k.updated_at, SECOND_PRECISION);

      assert.match(k.key, PADDED_BASE64);
      const blob = decodeBlob(k.key);
      assert.deepEqual(Object.keys(blob), ['admin_urls', 'nonce']);
      assert.deepEqual(blob.admin_urls, [server.url]);
      assert.deepEqual(blob.admin_urls, server.ctx.adminUrls());
      assert.match(blob.nonce, /^[A-Za-z0-9+/]{43}$/);
      assert.equal(Buffer.from(blob.nonce, 'base64').length, 32);

      const other = await createKey(server, 'prod-east');
      assert.notEqual(other.key, k.key);
    });

    it('takes name, uses_remaining and expired_at; null uses_remaining means unlimited', async () => {
      const res = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', {
        name: 'prod rollout',
        uses_remaining: 5,
        expired_at: '2030-06-01T12:30:45.678+02:00',
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.data.name, 'prod rollout');
      assert.equal(res.body.data.uses_remaining, 5);
      assert.equal(res.body.data.expired_at, '2030-06-01T10:30:45Z');

      const unlimited = await createKey(server, 'prod-east', { uses_remaining: null });
      assert.equal(unlimited.uses_remaining, null);
      // An expiry in the past is allowed: the contract has no "must be in the future" rule.
      const past = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { expired_at: '2020-01-01T00:00:00Z' });
      assert.equal(past.status, 201);
      assert.equal(past.body.data.expired_at, '2020-01-01T00:00:00Z');
    });

    it('accepts an empty JSON body and stores a blank name as null', async () => {
      const empty = await server.api.request('POST', '/api/v1/clusters/prod-east/enrollment_keys', { rawBody: '' });
      assert.equal(empty.status, 201);
      assert.equal(empty.body.data.uses_remaining, 1);
      const blank = await createKey(server, 'prod-east', { name: '   ' });
      assert.equal(blank.name, null);
    });

    it('answers unknown clusters with 404, schema violations with 400 and an over-long name with 422', async () => {
      const missing = await server.api.post('/api/v1/clusters/nope/enrollment_keys', {});
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.error, { code: 'not_found', message: 'Resource not found' });

      const badPath = await server.api.post('/api/v1/clusters/Bad_Name/enrollment_keys', {});
      assert.equal(badPath.status, 400);
      assert.ok(badPath.body.error.details.cluster_name);

      const bad = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { uses_remaining: 0, expired_at: 'tomorrow', extra: true, name: 7 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'bad_request');
      assert.equal(bad.body.error.message, 'Invalid request parameters');
      assert.deepEqual(bad.body.error.details.uses_remaining, ['0 is smaller than minimum 1']);
      assert.deepEqual(bad.body.error.details.expired_at, ['Invalid format. Expected :date-time']);
      assert.deepEqual(bad.body.error.details.extra, ['Unexpected field: extra']);
      assert.deepEqual(bad.body.error.details.name, ['Invalid string. Got: integer']);

      const huge = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { uses_remaining: 2 ** 31 });
      assert.equal(huge.status, 400);
      const unknownParam = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys?colour=red');
      assert.equal(unknownParam.status, 400);
      assert.deepEqual(unknownParam.body.error.details, { colour: ['Unexpected field: colour'] });

      const long = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { name: 'x'.repeat(256) });
      assert.equal(long.status, 422);
      assert.deepEqual(long.body.error, { code: 'validation_failed', message: 'Validation failed', details: { name: ['should be at most 255 character(s)'] } });
      // Date-times that name no storable instant (a leap second, a year past 9999 in UTC) fail the
      // date-time format itself, like every other timestamp the API accepts.
      const unstorable = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { name: 'y'.repeat(300), expired_at: '2030-06-30T23:59:60Z' });
      assert.equal(unstorable.status, 400);
      assert.deepEqual(unstorable.body.error.details, { expired_at: ['Invalid format. Expected :date-time'] });
      const overflow = await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { expired_at: '9999-12-31T23:59:59-01:00' });
      assert.equal(overflow.status, 400);
      assert.deepEqual(overflow.body.error.details, { expired_at: ['Invalid format. Expected :date-time'] });
    });

    it('requires a key on every admin route except the public one', async () => {
      const anon = server.api.withToken(null);
      const key = await createKey(server, 'prod-east');
      for (const res of [
        await anon.post('/api/v1/clusters/prod-east/enrollment_keys', {}),
        await anon.post('/api/v1/clusters/default/enrollment_keys', {}),
        await anon.get('/api/v1/enrollment_keys'),
        await anon.get(`/api/v1/enrollment_keys/${key.id}`),
        await anon.patch(`/api/v1/enrollment_keys/${key.id}`, {}),
        await anon.delete(`/api/v1/enrollment_keys/${key.id}`),
      ]) {
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 'unauthorized');
      }
      const publicRoute = await anon.post('/api/v1/clusters/default/enrollment_keys/public');
      assert.equal(publicRoute.status, 403, 'public, but disabled here');
    });

    it('refuses the default-cluster routes with 403 when no default cluster is configured', async () => {
      const byDefault = await server.api.post('/api/v1/clusters/default/enrollment_keys', {});
      assert.equal(byDefault.status, 403);
      assert.deepEqual(byDefault.body.error, { code: 'forbidden', message: 'Forbidden' });
      const publicKey = await server.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public');
      assert.equal(publicKey.status, 403);
      assert.equal(publicKey.body.error.code, 'forbidden');
    });

    it('gets one key; 400 for a malformed id and 404 for an unknown one', async () => {
      const key = await createKey(server, 'prod-east', { name: 'one' });
      const res = await server.api.get(`/api/v1/enrollment_keys/${key.id}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data, key);
      assert.ok(res.body.meta.request_id);

      const malformed = await server.api.get('/api/v1/enrollment_keys/not-a-uuid');
      assert.equal(malformed.status, 400);
      assert.ok(malformed.body.error.details.id);
      const unknown = await server.api.get(`/api/v1/enrollment_keys/${randomUUID()}`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'not_found');
    });

    it('patches: absent keeps, a value sets, null clears (uses_remaining null = unlimited)', async () => {
      const key = await createKey(server, 'prod-east', { name: 'patch me', uses_remaining: 3, expired_at: '2031-01-01T00:00:00Z' });
      const path = `/api/v1/enrollment_keys/${key.id}`;

      const keep = await server.api.patch(path, {});
      assert.equal(keep.status, 200);
      assert.deepEqual(keep.body.data, key);
      const noBody = await server.api.patch(path);
      assert.equal(noBody.status, 200);
      assert.deepEqual(noBody.body.data, key);

      const set = await server.api.patch(path, { name: 'renamed', uses_remaining: 10 });
      assert.equal(set.status, 200);
      assert.equal(set.body.data.name, 'renamed');
      assert.equal(set.body.data.uses_remaining, 10);
      assert.equal(set.body.data.expired_at, '2031-01-01T00:00:00Z');
      assert.equal(set.body.data.key, key.key, 'the blob never changes');

      const cleared = await server.api.patch(path, { name: null, uses_remaining: null, expired_at: null });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.data.name, null);
      assert.equal(cleared.body.data.uses_remaining, null);
      assert.equal(cleared.body.data.expired_at, null);
      assert.deepEqual((await server.api.get(path)).body.data, cleared.body.data);

      const expiry = await server.api.patch(path, { expired_at: '2032-02-02T02:02:02Z' });
      assert.equal(expiry.body.data.expired_at, '2032-02-02T02:02:02Z');
      assert.equal(expiry.body.data.uses_remaining, null);
    });

    it('answers bad patches with 400, 404 and 422', async () => {
      const key = await createKey(server, 'prod-east');
      const bad = await server.api.patch(`/api/v1/enrollment_keys/${key.id}`, { uses_remaining: 0, key: 'mine' });
      assert.equal(bad.status, 400);
      assert.ok(bad.body.error.details.uses_remaining);
      assert.deepEqual(bad.body.error.details.key, ['Unexpected field: key']);
      const unknown = await server.api.patch(`/api/v1/enrollment_keys/${randomUUID()}`, { name: 'x' });
      assert.equal(unknown.status, 404);
      const long = await server.api.patch(`/api/v1/enrollment_keys/${key.id}`, { name: 'y'.repeat(300) });
      assert.equal(long.status, 422);
      assert.deepEqual(long.body.error.details, { name: ['should be at most 255 character(s)'] });
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).body.data.name, null);
    });

    it('deletes with 204 and an empty body, then answers 404; 400 for a malformed id', async () => {
      const key = await createKey(server, 'prod-east');
      const del = await server.api.delete(`/api/v1/enrollment_keys/${key.id}`);
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).status, 404);
      assert.equal((await server.api.delete(`/api/v1/enrollment_keys/${key.id}`)).status, 404);
      assert.equal((await server.api.delete('/api/v1/enrollment_keys/123')).status, 400);
      const verdict = await verify(server, { key: key.key });
      assert.equal(verdict.body.data.error, 'invalid_key', 'a deleted key no longer enrolls');
    });

    it('refuses writes with 503 while degraded, and keeps reads and verification working', async () => {
      const key = await createKey(server, 'prod-east', { uses_remaining: null });
      const admins = server.ctx.instances as { isDegraded: () => boolean };
      const original = admins.isDegraded;
      admins.isDegraded = () => true;
      try {
        for (const res of [
          await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', {}),
          await server.api.post('/api/v1/clusters/default/enrollment_keys', {}),
          await server.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public'),
          await server.api.patch(`/api/v1/enrollment_keys/${key.id}`, { name: 'x' }),
          await server.api.delete(`/api/v1/enrollment_keys/${key.id}`),
        ]) {
          assert.equal(res.status, 503);
          assert.equal(res.body.error.code, 'degraded_mode');
        }
        // Schema validation comes before the gate.
        assert.equal((await server.api.post('/api/v1/clusters/prod-east/enrollment_keys', { uses_remaining: 'x' })).status, 400);
        assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).status, 200);
        assert.equal((await server.api.get('/api/v1/enrollment_keys')).status, 200);
        assert.equal((await verify(server, { key: key.key })).body.data.verified, true);
      } finally {
        admins.isDegraded = original;
      }
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).body.data.name, null);
    });

    it('deletes a cluster together with its keys', async () => {
      const doomed = await createCluster(server.api);
      const key = await createKey(server, doomed.name);
      assert.equal((await server.api.delete(`/api/v1/clusters/${doomed.name}`)).status, 204);
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).status, 404);
      assert.ok(cluster.id);
    });
  });

  describe(`enrollment key list filters [${engine}]`, () => {
    let server: TestServer;
    const ids: Record<string, string> = {};
    let blobOfPlain = '';
    const list = async (query: string) => {
      const res = await server.api.get(`/api/v1/enrollment_keys?page_size=100&${query}`);
      assert.equal(res.status, 200, `${query}: ${res.text}`);
      return (res.body.data as Array<{ id: string }>).map((k) => Object.entries(ids).find(([, id]) => id === k.id)?.[0] ?? k.id).sort();
    };

    before(async () => {
      server = await startServer(engine);
      await createCluster(server.api, { name: 'prod-east' });
      await createCluster(server.api, { name: 'staging' });
      // plain: single-use, unnamed, never used, no expiry, in prod-east
      const plain = await createKey(server, 'prod-east');
      ids.plain = plain.id;
      blobOfPlain = plain.key;
      ids.named = (await createKey(server, 'prod-east', { name: 'Prod Rollout', uses_remaining: 5 })).id;
      ids.unlimited = (await createKey(server, 'staging', { name: 'staging fleet', uses_remaining: null })).id;
      ids.expired = (await createKey(server, 'staging', { name: 'old', uses_remaining: 2, expired_at: '2020-05-05T10:00:00Z' })).id;
      ids.future = (await createKey(server, 'prod-east', { uses_remaining: 3, expired_at: '2099-05-05T10:00:00Z' })).id;
      ids.spent = (await createKey(server, 'staging', { name: 'spent' })).id;
      await setKeyColumns(server, ids.spent, { uses_remaining: 0, last_used_at: '2024-03-10T23:59:59.500Z' });
      await setKeyColumns(server, ids.named, { last_used_at: '2024-03-11T00:00:00.000Z' });
      // Fixed, distinct creation times: the default order is deterministic (keys made within one
      // millisecond would tie), and the date-only bounds of inserted_at/updated_at have edges to hit.
      await setKeyColumns(server, ids.plain, { inserted_at: '2024-01-31T23:59:59.999Z', updated_at: '2024-02-01T00:00:00.000Z' });
      await setKeyColumns(server, ids.named, { inserted_at: '2024-02-01T00:00:00.000Z', updated_at: '2024-02-01T12:00:00.000Z' });
      for (const [i, name] of ['unlimited', 'expired', 'future', 'spent'].entries()) {
        await setKeyColumns(server, ids[name]!, { inserted_at: `2024-02-0${i + 2}T08:00:00.000Z`, updated_at: `2024-02-0${i + 2}T08:00:00.000Z` });
      }
    });
    after(() => server.stop());

    it('lists everything with pagination meta, newest first by default', async () => {
      const res = await server.api.get('/api/v1/enrollment_keys?page_size=4');
      assert.equal(res.status, 200);
      assert.equal(res.body.data.length, 4);
      assert.deepEqual(res.body.meta.pagination, {
        page: 1,
        page_size: 4,
        total_count: 6,
        total_pages: 2,
        has_next: true,
        has_prev: false,
        next_page: 2,
        prev_page: null,
      });
      assert.deepEqual(
        res.body.data.map((k: any) => k.id),
        [ids.spent, ids.future, ids.expired, ids.unlimited],
      );
      const second = await server.api.get('/api/v1/enrollment_keys?page_size=4&page=2');
      assert.deepEqual(
        second.body.data.map((k: any) => k.id),
        [ids.named, ids.plain],
      );
      assert.equal(second.body.meta.pagination.has_prev, true);
      assert.equal(second.body.meta.pagination.next_page, null);
    });

    it('filters by the joined cluster name: exact, wildcard (case-insensitive), comma ignored', async () => {
      assert.deepEqual(await list('cluster_name=staging'), ['expired', 'spent', 'unlimited']);
      assert.deepEqual(await list('cluster_name=PROD*'), ['future', 'named', 'plain']);
      assert.deepEqual(await list('cluster_name=*ag*'), ['expired', 'spent', 'unlimited']);
      assert.deepEqual(await list('cluster_name=Staging'), []);
      assert.deepEqual(await list('cluster_name=staging,prod-east'), ['expired', 'future', 'named', 'plain', 'spent', 'unlimited']);
    });

    it('filters by name (exact is case-sensitive, * is case-insensitive), has_name and key', async () => {
      assert.deepEqual(await list('name=Prod%20Rollout'), ['named']);
      assert.deepEqual(await list('name=prod%20rollout'), []);
      assert.deepEqual(await list('name=*rollout'), ['named']);
      assert.deepEqual(await list('name=s*'), ['spent', 'unlimited']);
      assert.deepEqual(await list('name=old,spent'), ['expired', 'spent']);
      assert.deepEqual(await list('has_name=true'), ['expired', 'named', 'spent', 'unlimited']);
      assert.deepEqual(await list('has_name=false'), ['future', 'plain']);
      assert.deepEqual(await list(`key=${encodeURIComponent(blobOfPlain)}`), ['plain']);
    });

    it('filters by uses_remaining: exact, ranges, is_unlimited, is_spent', async () => {
      assert.deepEqual(await list('uses_remaining=5'), ['named']);
      assert.deepEqual(await list('uses_remaining__gte=2'), ['expired', 'future', 'named']);
      assert.deepEqual(await list('uses_remaining__lte=1'), ['plain', 'spent']);
      assert.deepEqual(await list('uses_remaining__gte=2&uses_remaining__lte=3'), ['expired', 'future']);
      assert.deepEqual(await list('is_unlimited=true'), ['unlimited']);
      assert.deepEqual(await list('is_unlimited=false'), ['expired', 'future', 'named', 'plain', 'spent']);
      assert.deepEqual(await list('is_spent=true'), ['spent']);
      assert.deepEqual(await list('is_spent=false'), ['expired', 'future', 'named', 'plain', 'unlimited']);
    });

    it('filters by expiry and use: is_expired, has_expiry, is_never_used', async () => {
      assert.deepEqual(await list('is_expired=true'), ['expired']);
      assert.deepEqual(await list('is_expired=false'), ['future', 'named', 'plain', 'spent', 'unlimited']);
      assert.deepEqual(await list('has_expiry=true'), ['expired', 'future']);
      assert.deepEqual(await list('has_expiry=false'), ['named', 'plain', 'spent', 'unlimited']);
      assert.deepEqual(await list('is_never_used=true'), ['expired', 'future', 'plain', 'unlimited']);
      assert.deepEqual(await list('is_never_used=false'), ['named', 'spent']);
      assert.deepEqual(await list('is_expired=false&has_expiry=true'), ['future']);
    });

    it('filters date ranges; a bare date covers its whole UTC day', async () => {
      assert.deepEqual(await list('last_used_at__lte=2024-03-10'), ['spent']);
      assert.deepEqual(await list('last_used_at__gte=2024-03-11'), ['named']);
      assert.deepEqual(await list('last_used_at__gte=2024-03-10&last_used_at__lte=2024-03-11'), ['named', 'spent']);
      assert.deepEqual(await list('last_used_at__gte=2024-03-10T23:59:59.600Z'), ['named']);
      assert.deepEqual(await list('expired_at__gte=2020-05-05&expired_at__lte=2020-05-05'), ['expired']);
      assert.deepEqual(await list('expired_at__gte=2020-05-05T10:00:01Z'), ['future']);
      assert.deepEqual(await list('expired_at__lte=2020-05-05T10:00:00Z'), ['expired']);
      assert.deepEqual(await list('inserted_at__lte=2024-01-31'), ['plain']);
      assert.deepEqual(await list('inserted_at__gte=2024-02-01&inserted_at__lte=2024-02-01'), ['named']);
      assert.deepEqual(await list('updated_at__gte=2024-02-01&updated_at__lte=2024-02-01'), ['named', 'plain']);
      assert.deepEqual(await list('updated_at__gte=2024-02-01T06:00:00Z&updated_at__lte=2024-02-02'), ['named', 'unlimited']);
      assert.deepEqual(await list('inserted_at__gte=2024-02-04'), ['future', 'spent']);
    });

    it('sorts by the sortable fields and falls back to the default order for anything else', async () => {
      const order = async (query: string) =>
        ((await server.api.get(`/api/v1/enrollment_keys?${query}`)).body.data as Array<{ id: string }>).map(
          (k) => Object.entries(ids).find(([, id]) => id === k.id)![0],
        );
      assert.deepEqual(await order('uses_remaining__gte=0&order_by=uses_remaining&order_directions=asc'), ['spent', 'plain', 'expired', 'future', 'named']);
      assert.deepEqual(await order('uses_remaining__gte=0&order_by=uses_remaining&order_directions=desc'), ['named', 'future', 'expired', 'plain', 'spent']);
      // Same-case names only: how upper and lower case interleave depends on the database collation.
      assert.deepEqual(await order('name=s*&order_by=name'), ['spent', 'unlimited']);
      assert.deepEqual(await order('name=s*&order_by=name&order_directions=desc'), ['unlimited', 'spent']);
      assert.deepEqual(await order('has_expiry=true&order_by=expired_at&order_directions=desc'), ['future', 'expired']);
      assert.deepEqual(await order('is_never_used=false&order_by=last_used_at'), ['spent', 'named']);
      const fallback = await order('order_by=key');
      assert.deepEqual(fallback, await order(''));
      assert.equal(fallback[0], 'spent');
    });

    it('rejects unknown parameters and malformed values with 400', async () => {
      for (const query of [
        'colour=red',
        'is_spent=maybe',
        'uses_remaining=0',
        'uses_remaining__gte=-1',
        'expired_at__gte=yesterday',
        'last_used_at__lte=2024-02-30',
        'page_size=101',
        'page=0',
      ]) {
        const res = await server.api.get(`/api/v1/enrollment_keys?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, 'bad_request');
      }
    });
  });

  describe(`default-cluster enrollment keys [${engine}]`, () => {
    let open: TestServer;
    let closed: TestServer;
    before(async () => {
      open = await startServer(engine, { DEFAULT_CLUSTER_NAME: 'edge-default', PUBLIC_ENROLLMENT_KEY_ENABLED: 'true' });
      closed = await startServer(engine, { DEFAULT_CLUSTER_NAME: 'edge-default' });
    });
    after(async () => {
      await open.stop();
      await closed.stop();
    });

    it('answers 404 while the configured default cluster does not exist', async () => {
      const publicKey = await open.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public');
      assert.equal(publicKey.status, 404);
      assert.equal(publicKey.body.error.code, 'not_found');
      const byDefault = await open.api.post('/api/v1/clusters/default/enrollment_keys', {});
      assert.equal(byDefault.status, 404);
    });

    it('hands out a public single-use key without auth, ignoring the body, with no location', async () => {
      await createCluster(open.api, { name: 'edge-default' });
      const res = await open.api
        .withToken(null)
        .post('/api/v1/clusters/default/enrollment_keys/public', { name: 'mine', uses_remaining: 50, expired_at: null });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), null);
      const k = res.body.data;
      assert.equal(k.cluster_name, 'edge-default');
      assert.equal(k.uses_remaining, 1);
      assert.equal(k.name, null);
      assert.equal(k.expired_at, null);
      assert.deepEqual(decodeBlob(k.key).admin_urls, [open.url]);
      const bare = await open.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public');
      assert.equal(bare.status, 201);
      assert.notEqual(bare.body.data.key, k.key);
      assert.equal((await verify(open, { key: k.key })).body.data.verified, true);
    });

    it('creates keys for the default cluster with the body honoured and a location', async () => {
      const res = await open.api.post('/api/v1/clusters/default/enrollment_keys', { name: 'rollout', uses_remaining: 7 });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/api/v1/enrollment_keys/${res.body.data.id}`);
      assert.equal(res.body.data.cluster_name, 'edge-default');
      assert.equal(res.body.data.name, 'rollout');
      assert.equal(res.body.data.uses_remaining, 7);
      const noBody = await open.api.post('/api/v1/clusters/default/enrollment_keys');
      assert.equal(noBody.status, 201);
      assert.equal(noBody.body.data.uses_remaining, 1);
      const bad = await open.api.post('/api/v1/clusters/default/enrollment_keys', { uses_remaining: -3 });
      assert.equal(bad.status, 400);
      const listed = await open.api.get('/api/v1/enrollment_keys?cluster_name=edge-default&has_name=false');
      assert.equal(listed.body.meta.pagination.total_count, 3);
    });

    it('keeps the public route closed (403) unless PUBLIC_ENROLLMENT_KEY_ENABLED, while the keyed default route works', async () => {
      await createCluster(closed.api, { name: 'edge-default' });
      const publicKey = await closed.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public');
      assert.equal(publicKey.status, 403);
      assert.equal(publicKey.body.error.code, 'forbidden');
      const byDefault = await closed.api.post('/api/v1/clusters/default/enrollment_keys', {});
      assert.equal(byDefault.status, 201);
      assert.equal(byDefault.body.data.cluster_name, 'edge-default');
    });

    it('an anonymous public key cannot take over an existing node (409), it can only create one', async () => {
      const anonymousTicket = async () => {
        const key = (await open.api.withToken(null).post('/api/v1/clusters/default/enrollment_keys/public')).body.data.key;
        return (await verify(open, { key })).body.data.netmaker_key as string;
      };
      const victimBody = registrationBody('edge-default');
      const victim = await open.api.withToken(await anonymousTicket()).post('/api/v1/agents/nodes', victimBody);
      assert.equal(victim.status, 201);

      const attack = await open.api
        .withToken(await anonymousTicket())
        .post('/api/v1/agents/nodes', registrationBody('edge-default', { node_id: victimBody.node_id }));
      assert.equal(attack.status, 409);
      assert.equal(attack.body.error.code, 'conflict');
      assert.equal(attack.body.data, undefined);
      const node = (await open.api.get(`/api/v1/nodes/${victimBody.node_id}`)).body.data;
      assert.equal(node.api_token, victim.body.data.api_token);
      assert.equal(node.proxy_password, victim.body.data.proxy_password);
    });
  });

  describe(`agent enrollment key verification [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    it('answers an unknown key with invalid_key and still records the attempt with nulls', async () => {
      const seq = await lastEventSeq(server);
      const res = await verify(server, { key: 'bm90LWEta2V5' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { data: { verified: false, error: 'invalid_key', netmaker_key: '', cluster_name: null } });
      const events = await verifiedEventsSince(server, seq);
      assert.equal(events.length, 1);
      const { verified_at, ...data } = events[0].data;
      assert.deepEqual(data, { enrollment_key_id: null, cluster_name: null, name: null, uses_remaining: null, result: 'invalid_key', attempts: 1 });
      assert.match(verified_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(events[0].type, 'edge.enrollment_key.verified');
      assert.equal(events[0].specversion, '1.0');
    });

    it('needs no auth, requires key (400 by schema) and tolerates unknown fields', async () => {
      const missing = await verify(server, { nonce: 'x' });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body.error.details, { key: ['Missing field: key'] });
      const noBody = await verify(server, undefined);
      assert.equal(noBody.status, 400);
      const wrongType = await verify(server, { key: 42 });
      assert.equal(wrongType.status, 400);
      assert.deepEqual(wrongType.body.error.details, { key: ['Invalid string. Got: integer'] });
      const extra = await verify(server, { key: '', node_id: randomUUID(), agent_version: '1.2.3' });
      assert.equal(extra.status, 200);
      assert.equal(extra.body.data.error, 'invalid_key');
      // A node token is not needed, and a wrong one is not looked at.
      const withBogusToken = await server.api.withToken('bogus').post(VERIFY, { key: 'x' });
      assert.equal(withBogusToken.status, 200);
    });

    it('consumes a single-use key once: verified, then key_spent; sets last_used_at and records both', async () => {
      const cluster = await createCluster(server.api);
      const key = await createKey(server, cluster.name, { name: 'once' });
      const seq = await lastEventSeq(server);

      const first = await verify(server, { key: key.key });
      const { netmaker_key: ticket, ...rest } = first.body.data;
      assert.deepEqual(rest, { verified: true, error: '', cluster_name: cluster.name });
      assert.match(ticket, /^[A-Za-z0-9+/]{43}$/, 'a verified key hands out a join ticket');
      const after1 = (await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).body.data;
      assert.equal(after1.uses_remaining, 0);
      assert.match(after1.last_used_at, SECOND_PRECISION);
      assert.ok(Date.now() - Date.parse(after1.last_used_at) < 60_000);

      const second = await verify(server, { key: key.key });
      assert.deepEqual(second.body, { data: { verified: false, error: 'key_spent', netmaker_key: '', cluster_name: null } });

      const events = await verifiedEventsSince(server, seq);
      assert.deepEqual(
        events.map(({ data: { verified_at: _, ...rest } }) => rest),
        [
          { enrollment_key_id: key.id, cluster_name: cluster.name, name: 'once', uses_remaining: 0, result: 'verified', attempts: 1 },
          { enrollment_key_id: key.id, cluster_name: cluster.name, name: 'once', uses_remaining: 0, result: 'key_spent', attempts: 1 },
        ],
      );
      assert.ok(
        events.every((e) => !JSON.stringify(e).includes(key.key)),
        'the blob never appears in events',
      );
    });

    it('counts down multi-use keys and leaves unlimited keys unlimited', async () => {
      const cluster = await createCluster(server.api);
      const multi = await createKey(server, cluster.name, { uses_remaining: 3 });
      const unlimited = await createKey(server, cluster.name, { uses_remaining: null });
      const seq = await lastEventSeq(server);
      for (let i = 0; i < 3; i++) assert.equal((await verify(server, { key: multi.key })).body.data.verified, true);
      assert.equal((await verify(server, { key: multi.key })).body.data.error, 'key_spent');
      for (let i = 0; i < 3; i++) assert.equal((await verify(server, { key: unlimited.key })).body.data.verified, true);
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${unlimited.id}`)).body.data.uses_remaining, null);
      assert.ok((await server.api.get(`/api/v1/enrollment_keys/${unlimited.id}`)).body.data.last_used_at);
      const events = await verifiedEventsSince(server, seq);
      assert.deepEqual(
        events.map((e) => [e.data.uses_remaining, e.data.result]),
        [
          [2, 'verified'],
          [1, 'verified'],
          [0, 'verified'],
          [0, 'key_spent'],
          [null, 'verified'],
          [null, 'verified'],
          [null, 'verified'],
        ],
      );
    });

    it('checks expiry before uses, and uses before the node limit', async () => {
      const cluster = await createCluster(server.api, { node_limit: 1 });
      await insertNodes(server, cluster.id, 1);
      const expiredAndSpent = await createKey(server, cluster.name, { expired_at: '2020-01-01T00:00:00Z' });
      await setKeyColumns(server, expiredAndSpent.id, { uses_remaining: 0 });
      const spentInFullCluster = await createKey(server, cluster.name);
      await setKeyColumns(server, spentInFullCluster.id, { uses_remaining: 0 });
      const fresh = await createKey(server, cluster.name, { uses_remaining: 4, expired_at: '2099-01-01T00:00:00Z' });
      const seq = await lastEventSeq(server);

      assert.equal((await verify(server, { key: expiredAndSpent.key })).body.data.error, 'key_expired');
      assert.equal((await verify(server, { key: spentInFullCluster.key })).body.data.error, 'key_spent');
      const full = await verify(server, { key: fresh.key });
      assert.deepEqual(full.body, { data: { verified: false, error: 'node_limit_reached', netmaker_key: '', cluster_name: null } });
      const untouched = (await server.api.get(`/api/v1/enrollment_keys/${fresh.id}`)).body.data;
      assert.equal(untouched.uses_remaining, 4, 'a refused attempt takes no use');
      assert.equal(untouched.last_used_at, null);

      const events = await verifiedEventsSince(server, seq);
      assert.deepEqual(
        events.map((e) => [e.data.enrollment_key_id, e.data.uses_remaining, e.data.result]),
        [
          [expiredAndSpent.id, 0, 'key_expired'],
          [spentInFullCluster.id, 0, 'key_spent'],
          [fresh.id, 4, 'node_limit_reached'],
        ],
      );

      // Room again once the limit is raised: the same key now verifies.
      assert.equal((await server.api.patch(`/api/v1/clusters/${cluster.name}`, { node_limit: 2 })).status, 200);
      assert.equal((await verify(server, { key: fresh.key })).body.data.verified, true);
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${fresh.id}`)).body.data.uses_remaining, 3);
    });

    it('treats a key whose expiry has just passed as expired, and one without a node limit as unbounded', async () => {
      const cluster = await createCluster(server.api);
      await insertNodes(server, cluster.id, 3);
      const key = await createKey(server, cluster.name, { uses_remaining: null });
      assert.equal((await verify(server, { key: key.key })).body.data.verified, true);
      await setKeyColumns(server, key.id, { expired_at: new Date(Date.now() - 1000).toISOString() });
      assert.equal((await verify(server, { key: key.key })).body.data.error, 'key_expired');
    });

    it('lets exactly one of 20 concurrent verifications of a single-use key succeed', async () => {
      const cluster = await createCluster(server.api);
      const key = await createKey(server, cluster.name);
      const seq = await lastEventSeq(server);
      const results = await Promise.all(Array.from({ length: 20 }, () => verify(server, { key: key.key })));
      assert.ok(results.every((r) => r.status === 200));
      const outcomes = results.map((r) => r.body.data.error || 'verified');
      assert.equal(outcomes.filter((o) => o === 'verified').length, 1, outcomes.join(','));
      assert.equal(outcomes.filter((o) => o === 'key_spent').length, 19);
      assert.equal((await server.api.get(`/api/v1/enrollment_keys/${key.id}`)).body.data.uses_remaining, 0);

      const events = await verifiedEventsSince(server, seq);
      // The first failure is recorded at once; the other 18 are summed when the window closes (abuse.test.ts).
      assert.equal(events.length, 2);
      assert.equal(events.filter((e) => e.data.result === 'verified').length, 1);
      assert.deepEqual(
        events.map((e) => e.data.attempts),
        [1, 1],
      );
      assert.ok(events.every((e) => e.data.uses_remaining === 0 && e.data.enrollment_key_id === key.id));
    });

    it('hands out a join ticket that registers exactly one node, in its own cluster only', async () => {
      const cluster = await createCluster(server.api, { name: uniqueName('reg') });
      const other = await createCluster(server.api, { name: uniqueName('other') });
      const key = await createKey(server, cluster.name);
      const ticket = (await verify(server, { key: key.key })).body.data.netmaker_key as string;
      const register = (token: string | null, clusterName: string) => server.api.withToken(token).post('/api/v1/agents/nodes', registrationBody(clusterName));

      assert.equal((await register(null, cluster.name)).status, 401, 'no credential, no node');
      assert.equal((await register(ticket, other.name)).status, 401, 'a ticket is bound to its cluster');
      assert.equal((await register(ticket, cluster.name)).status, 201);
      assert.equal((await register(ticket, cluster.name)).status, 401, 'a ticket is single-use');
      const nodes = await server.api.get(`/api/v1/nodes?cluster_name=${cluster.name}`);
      assert.equal(nodes.body.meta.pagination.total_count, 1);
      assert.equal((await server.api.get(`/api/v1/nodes?cluster_name=${other.name}`)).body.meta.pagination.total_count, 0);
    });
  });
}
