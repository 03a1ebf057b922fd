import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

for (const engine of testEngines()) {
  describe(`clusters API [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    it('creates a cluster with an auto-generated range and returns it with location', async () => {
      const res = await server.api.post('/api/v1/clusters', { name: 'prod-east', node_limit: 10 });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), '/api/v1/clusters/prod-east');
      const c = res.body.data;
      assert.equal(c.name, 'prod-east');
      assert.equal(c.ipv4_range, '100.64.0.0/24');
      assert.equal(c.node_limit, 10);
      assert.equal(c.node_count, 0);
      assert.deepEqual(c.nodes, []);
      assert.equal(c.network_name, 'cluster-prod-east');
      assert.equal(c.vpn_domain, 'cluster-prod-east.nm.internal');
      assert.match(c.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(res.body.meta.request_id, /^[0-9a-f-]{36}$/);
      assert.equal(res.headers.get('x-request-id'), res.body.meta.request_id);
    });

    it('gives the next free range to the next cluster and refuses overlaps with 409', async () => {
      const second = await server.api.post('/api/v1/clusters', { name: 'prod-west' });
      assert.equal(second.body.data.ipv4_range, '100.64.1.0/24');
      const overlap = await server.api.post('/api/v1/clusters', { name: 'other', ipv4_range: '100.64.0.0/16' });
      assert.equal(overlap.status, 409);
      assert.equal(overlap.body.error.code, 'conflict');
      assert.equal(overlap.body.error.message, '100.64.0.0/16 overlaps with an existing cluster range');
    });

    it('refuses a taken name with 409 and the reserved name with 422', async () => {
      const taken = await server.api.post('/api/v1/clusters', { name: 'prod-east' });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error.message, 'name has already been taken');
      const reserved = await server.api.post('/api/v1/clusters', { name: 'default' });
      assert.equal(reserved.status, 422);
      assert.deepEqual(reserved.body.error.details, { name: ['is reserved'] });
    });

    it('answers schema violations with 400 and per-field details', async () => {
      const res = await server.api.post('/api/v1/clusters', { name: 'Bad_Name', node_limit: 'x', extra: 1 });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'bad_request');
      assert.equal(res.body.error.message, 'Invalid request parameters');
      assert.ok(res.body.error.details.name[0].startsWith('Invalid format'));
      assert.deepEqual(res.body.error.details.node_limit, ['Invalid integer. Got: string']);
      assert.deepEqual(res.body.error.details.extra, ['Unexpected field: extra']);
    });

    it('rejects private ranges and node limits that do not fit with 422', async () => {
      const priv = await server.api.post('/api/v1/clusters', { name: 'lan', ipv4_range: '10.0.0.0/24' });
      assert.equal(priv.status, 422);
      assert.deepEqual(priv.body.error.details, { ipv4_range: ['cannot use private, loopback, link-local, or multicast ranges'] });
      const tooMany = await server.api.post('/api/v1/clusters', { name: 'small', ipv4_range: '100.80.0.0/24', node_limit: 237 });
      assert.equal(tooMany.status, 422);
      assert.ok(tooMany.body.error.details.node_limit);
      const fits = await server.api.post('/api/v1/clusters', { name: 'small', ipv4_range: '100.80.0.0/24', node_limit: 236 });
      assert.equal(fits.status, 201);
    });

    it('patches node_limit: absent keeps, null removes', async () => {
      const keep = await server.api.patch('/api/v1/clusters/prod-east', {});
      assert.equal(keep.body.data.node_limit, 10);
      const cleared = await server.api.patch('/api/v1/clusters/prod-east', { node_limit: null });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.data.node_limit, null);
    });

    it('lists with filters, sorting and pagination meta', async () => {
      const res = await server.api.get('/api/v1/clusters?name=prod*&order_by=name&order_directions=asc&page_size=1');
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.data.map((c: any) => c.name),
        ['prod-east'],
      );
      assert.deepEqual(res.body.meta.pagination, {
        page: 1,
        page_size: 1,
        total_count: 2,
        total_pages: 2,
        has_next: true,
        has_prev: false,
        next_page: 2,
        prev_page: null,
      });
      const unknownParam = await server.api.get('/api/v1/clusters?colour=red');
      assert.equal(unknownParam.status, 400);
      assert.deepEqual(unknownParam.body.error.details, { colour: ['Unexpected field: colour'] });
      const tooBig = await server.api.get('/api/v1/clusters?page_size=101');
      assert.equal(tooBig.status, 400);
    });

    it('deletes an empty cluster with 204 and then answers 404', async () => {
      const del = await server.api.delete('/api/v1/clusters/small');
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      const gone = await server.api.get('/api/v1/clusters/small');
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'not_found');
    });

    it('requires a key: 401 with the envelope and a request id', async () => {
      const res = await server.api.withToken('wrong').get('/api/v1/clusters');
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'unauthorized');
      assert.ok(res.headers.get('x-request-id'));
    });
  });
}
