import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('OpenAPI document', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer('sqlite');
  });
  after(() => server.stop());

  it('is served publicly and validates as OpenAPI 3', async () => {
    const res = await server.api.withToken(null).get('/openapi.json');
    assert.equal(res.status, 200);
    const validator = new Validator();
    const result = await validator.validate(res.body);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
    assert.match(res.body.openapi, /^3\./);
  });

  it('lists every registered route with its schemas', async () => {
    const doc = (await server.api.get('/openapi.json')).body;
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');
    for (const route of server.app.registeredRoutes) {
      if (route.url.startsWith('/swaggerui') || route.url === '/openapi.json') continue;
      assert.ok(documented.has(`${route.method} ${toOpenApiPath(route.url)}`), `${route.method} ${route.url} is missing from /openapi.json`);
    }
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      if (!path.startsWith('/api/v1')) continue;
      for (const [method, op] of Object.entries<any>(item)) {
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path} has no response schema`);
        if (['post', 'patch', 'put'].includes(method) && !path.endsWith('/cancel') && !path.includes('/public')) {
          assert.ok(op.requestBody, `${method} ${path} has no request body schema`);
        }
      }
    }
    assert.ok(documented.has('POST /api/v1/clusters'));
    assert.ok(documented.has('GET /api/v1/clusters/{name}'));
  });

  it('serves the interactive UI', async () => {
    const res = await server.api.withToken(null).get('/swaggerui/');
    assert.equal(res.status, 200);
    assert.match(res.text, /swagger/i);
  });
});
