/**
 * Hostile-input sweep: for every operation in /openapi.json, send requests that break its schema
 * (bad path ids, wrong types, unknown fields and params, huge strings, invalid JSON, oversized
 * bodies, wrong content types). None may produce a 5xx, the server must stay up, and the database
 * must be byte-for-byte what it was.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createCluster } from '../helpers/factories.ts';

interface Probe {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  authorization?: string;
  what: string;
}

const HUGE = 'x'.repeat(20_000);
const BAD_IDS = ['not-a-uuid', '1', '%27%20or%201%3D1--', '..%2F..%2Fetc', 'x'.repeat(300), '%00', 'DROP%20TABLE', '%F0%9F%92%A5', '-1', 'Z'.repeat(25)];
const BAD_AUTH = ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'bearer-without-space', `Bearer ${'k'.repeat(5000)}`];

/** A value of the wrong JSON type for `schema`. */
function wrongValues(schema: any): unknown[] {
  const type = schema?.type;
  if (type === 'integer' || type === 'number') return ['12', 1.5, true, { n: 1 }, -1e308];
  if (type === 'boolean') return ['yes', 2, []];
  if (type === 'array') return ['not-an-array', { a: 1 }];
  if (type === 'object') return ['text', [1, 2]];
  if (type === 'string') {
    const out: unknown[] = [12345, false, { s: 1 }];
    if (schema.maxLength !== undefined) out.push(HUGE);
    if (schema.format === 'uuid') out.push('not-a-uuid');
    if (schema.format === 'date-time') out.push('yesterday');
    if (schema.enum) out.push('__not_in_enum__');
    if (schema.pattern) out.push('!!! no match !!!');
    return out;
  }
  return [];
}

/** Query strings are text: only values no parse of the declared type accepts are wrong. */
function wrongQueryValues(schema: any): string[] {
  const type = schema?.type;
  if (type === 'integer') return ['abc', '1.5', '9'.repeat(400), ...(schema.minimum !== undefined ? [String(schema.minimum - 1)] : []), ...(schema.maximum !== undefined ? [String(schema.maximum + 1)] : [])];
  if (type === 'boolean') return ['maybe', '2'];
  if (type === 'string') {
    const out: string[] = [];
    if (schema.maxLength !== undefined) out.push(HUGE);
    if (schema.format) out.push('not-a-valid-value');
    if (schema.enum) out.push('__not_in_enum__');
    if (schema.pattern) out.push('!!! no match !!!');
    return out;
  }
  return [];
}

function probesFor(method: string, template: string, op: any): Probe[] {
  const probes: Probe[] = [];
  const params: any[] = op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const fillPath = (bad?: { name: string; value: string }) =>
    template.replace(/\{([^}]+)\}/g, (_, name) => (bad && bad.name === name ? bad.value : name === 'name' || name === 'cluster_name' ? 'prod' : '018f3c1e-0000-7000-8000-000000000000'));

  for (const p of pathParams) for (const value of BAD_IDS) probes.push({ method, path: fillPath({ name: p.name, value }), what: `path ${p.name}=${value.slice(0, 20)}` });

  const base = fillPath();
  probes.push({ method, path: `${base}?unknown_param=1`, what: 'unknown query param' });
  probes.push({ method, path: `${base}?__proto__=x`, what: 'prototype query param' });
  probes.push({ method, path: `${base}?constructor=x`, what: 'constructor query param' });
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  if (!isPublic) for (const authorization of BAD_AUTH) probes.push({ method, path: base, authorization, what: `authorization "${authorization.slice(0, 20)}"` });
  for (const p of params.filter((q) => q.in === 'query')) {
    for (const value of wrongQueryValues(p.schema)) probes.push({ method, path: `${base}?${p.name}=${encodeURIComponent(value)}`, what: `query ${p.name}` });
  }

  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  if (bodySchema) {
    probes.push({ method, path: base, body: '{"unterminated": ', what: 'invalid JSON' });
    probes.push({ method, path: base, body: '[1,2,3]', what: 'JSON array body' });
    probes.push({ method, path: base, body: '"just a string"', what: 'JSON string body' });
    probes.push({ method, path: base, body: 'name=x', contentType: 'application/x-www-form-urlencoded', what: 'form body' });
    probes.push({ method, path: base, body: '{}', contentType: 'text/plain', what: 'text/plain body' });
    probes.push({ method, path: base, body: '{"__proto__": {"polluted": true}}', what: '__proto__ body' });
    probes.push({ method, path: base, body: '{"constructor": {"prototype": {"polluted": true}}}', what: 'constructor body' });
    probes.push({ method, path: base, body: '\u0000\u0001', what: 'binary garbage body' });
    let nested: any = {};
    for (let i = 0; i < 200; i++) nested = { a: nested };
    probes.push({ method, path: base, body: JSON.stringify({ deeply: nested, ...(bodySchema.required ? {} : {}) }), what: 'deep nesting + unknown field' });
    if ((bodySchema.required ?? []).length > 0) probes.push({ method, path: base, body: '{}', what: 'required fields missing' });
    for (const [name, prop] of Object.entries<any>(bodySchema.properties ?? {})) {
      const wrong = wrongValues(prop);
      if (!prop.nullable) wrong.push(null);
      for (const value of wrong) {
        probes.push({ method, path: base, body: JSON.stringify({ [name]: value }), what: `body ${name} wrong` });
      }
    }
  }
  return probes;
}

async function snapshot(server: TestServer): Promise<string> {
  const db = server.ctx.database.db;
  const tables = (await db.introspection.getTables()).map((t) => t.name).filter((n) => !n.startsWith('kysely_') && n !== 'instances').sort();
  const hash = createHash('sha256');
  for (const table of tables) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    const lines = rows.rows.map((r) => JSON.stringify(Object.entries(r).sort())).sort();
    hash.update(`${table}:${lines.join('\n')}\n`);
  }
  return hash.digest('hex');
}

for (const engine of testEngines()) {
  describe(`hostile input [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine, { BODY_LIMIT_BYTES: String(256 * 1024) });
      await createCluster(server.api, { name: 'prod' });
    });
    after(() => server.stop());

    it('answers every malformed request without a 5xx and changes nothing', async () => {
      await server.ctx.nodes.stop?.();
      const doc = (await server.api.get('/openapi.json')).body;
      const probes: Probe[] = [];
      for (const [path, item] of Object.entries<any>(doc.paths)) {
        for (const [method, op] of Object.entries<any>(item)) probes.push(...probesFor(method.toUpperCase(), path, op));
      }
      // Methods and sub-paths no route has.
      for (const path of Object.keys(doc.paths)) {
        const concrete = path.replace(/\{[^}]+\}/g, 'prod');
        probes.push({ method: 'PUT', path: concrete, body: '{}', what: 'unrouted method' });
        probes.push({ method: 'GET', path: `${concrete}/no-such-thing`, what: 'unrouted sub-path' });
      }
      // Bodies over the limit, for every route that takes a body.
      for (const [path, item] of Object.entries<any>(doc.paths)) {
        for (const method of Object.keys(item).filter((m) => ['post', 'patch', 'put'].includes(m))) {
          probes.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'prod'), body: JSON.stringify({ blob: 'y'.repeat(300 * 1024) }), what: 'body over limit' });
        }
      }
      assert.ok(probes.length >= 1000, `only ${probes.length} probes generated`);
      console.log(`hostile input [${engine}]: ${probes.length} malformed requests across ${Object.keys(doc.paths).length} paths`);

      const before = await snapshot(server);
      const failures: string[] = [];
      const queue = [...probes];
      const worker = async () => {
        for (let probe = queue.shift(); probe; probe = queue.shift()) {
          const res = await fetch(server.url + probe.path, {
            method: probe.method,
            headers: { authorization: probe.authorization ?? `Bearer ${server.masterKey}`, ...(probe.body !== undefined ? { 'content-type': probe.contentType ?? 'application/json' } : {}) },
            body: probe.body,
          });
          const text = await res.text();
          if (res.status >= 500) failures.push(`${probe.method} ${probe.path.slice(0, 120)} (${probe.what}) → ${res.status} ${text.slice(0, 200)}`);
          else if (res.status < 400) failures.push(`${probe.method} ${probe.path.slice(0, 120)} (${probe.what}) was accepted with ${res.status}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.deepEqual(failures, []);

      const health = await server.api.get('/health');
      assert.equal(health.status, 200);
      assert.equal(await snapshot(server), before, 'the database changed');
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    });
  });
}
