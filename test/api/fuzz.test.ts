/**
 * Hostile-input sweep: for every operation in /openapi.json, send requests that break its schema
 * (bad path ids, wrong types, unknown fields and params, huge strings, invalid JSON, oversized
 * bodies, wrong content types, NUL in every string, deep nesting, unstorable timestamps). Every
 * face is probed with a real credential of its own (admin key, a registered node's api_token, a
 * Core node's x-node-auth-key, a join ticket) so probes get past auth to validation. None may
 * produce a 5xx, the server must stay up, and the database must be byte-for-byte what it was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createCluster } from '../helpers/factories.ts';
import { joinTicket, registerAgent } from '../helpers/agents.ts';
import { registeredNode } from '../helpers/vpn-admin.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';
import { HttpsApiClient } from '../helpers/https-client.ts';

interface Probe {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  authorization?: string;
  what: string;
  /** The refusal must have `status` (400) and text matching this: the check that caught it, not another. */
  expect?: RegExp;
  status?: number;
}

/** Which credential gets a probe past a route's auth to its validation. */
interface Credentials {
  headers(path: string, method: string): Record<string, string>;
}

const HUGE = 'x'.repeat(20_000);
const BAD_IDS = ['not-a-uuid', '1', '%27%20or%201%3D1--', '..%2F..%2Fetc', 'x'.repeat(300), '%00', 'DROP%20TABLE', '%F0%9F%92%A5', '-1', 'Z'.repeat(25)];
const NUL = 'a\u0000b';
const BAD_TIMESTAMPS = ['2016-12-31T23:59:60Z', '9999-12-31T23:59:59-23:59', '10000-01-01T00:00:00Z', '0000-01-01T00:00:00+00:01'];
/** 10 KB, 5,000 levels: far past the parser's 64, and under the public routes' 16 KiB body limit, so the parser sees it. */
const DEEP_ARRAYS = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
const deepObject = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};
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
  if (type === 'integer')
    return [
      'abc',
      '1.5',
      '9'.repeat(400),
      ...(schema.minimum !== undefined ? [String(schema.minimum - 1)] : []),
      ...(schema.maximum !== undefined ? [String(schema.maximum + 1)] : []),
    ];
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

const branches = (schema: any): any[] => (schema?.anyOf ?? schema?.oneOf ?? [schema]).filter((b: any) => b && b.type !== 'null');

/**
 * Every leaf of a body schema that holds a string, a date-time or free-form JSON, each with a
 * function that wraps a value into a body reaching that leaf (objects by property, arrays by one
 * item, unions by each branch). Bounded in depth: request schemas are shallow.
 */
type Leaf = { kind: 'string' | 'date-time' | 'free'; path: string; wrap: (value: unknown) => unknown };
function leaves(schema: any, path = '', wrap: (v: unknown) => unknown = (v) => v, depth = 0): Leaf[] {
  if (depth > 6) return [];
  const out: Leaf[] = [];
  for (const branch of branches(schema)) {
    // Enums and constants are closed sets: nothing hostile can match them.
    if ('enum' in branch || 'const' in branch) continue;
    if (branch.type === 'string') out.push({ kind: branch.format === 'date-time' ? 'date-time' : 'string', path, wrap });
    else if (branch.type === 'array' && branch.items) out.push(...leaves(branch.items, `${path}/0`, (v) => wrap([v]), depth + 1));
    else if (branch.type === 'object' || branch.type === undefined) {
      const props = Object.entries<any>(branch.properties ?? {});
      for (const [name, sub] of props) out.push(...leaves(sub, `${path}/${name}`, (v) => wrap({ [name]: v }), depth + 1));
      const extra = branch.additionalProperties;
      if (extra === true || (branch.type === undefined && props.length === 0)) out.push({ kind: 'free', path, wrap });
      else if (extra && typeof extra === 'object') out.push(...leaves(extra, `${path}/k`, (v) => wrap({ k: v }), depth + 1));
    }
  }
  return out;
}

/** NUL in every string, unstorable instants in every date-time, depth in every free-form field. */
function hostileValueProbes(method: string, base: string, bodySchema: any): Probe[] {
  const probes: Probe[] = [];
  for (const leaf of leaves(bodySchema)) {
    const at = leaf.path || '(body)';
    if (leaf.kind === 'free') {
      probes.push({ method, path: base, body: JSON.stringify(leaf.wrap({ k: NUL })), what: `NUL in free-form ${at}`, expect: /NUL/ });
      probes.push({ method, path: base, body: JSON.stringify(leaf.wrap(deepObject(40))), what: `deep free-form ${at}`, expect: /Nested deeper than/ });
      continue;
    }
    probes.push({ method, path: base, body: JSON.stringify(leaf.wrap(NUL)), what: `NUL in ${at}`, expect: /NUL/ });
    if (leaf.kind === 'date-time') {
      for (const bad of BAD_TIMESTAMPS) probes.push({ method, path: base, body: JSON.stringify(leaf.wrap(bad)), what: `${bad} in ${at}`, expect: /date-time/ });
    }
  }
  probes.push({ method, path: base, body: DEEP_ARRAYS, what: 'arrays nested 5,000 deep', expect: /Nested deeper than 64 levels/ });
  return probes;
}

function probesFor(method: string, template: string, op: any): Probe[] {
  const probes: Probe[] = [];
  const params: any[] = op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const good = (name: string) => {
    const schema = pathParams.find((p) => p.name === name)?.schema;
    if (schema?.type === 'integer') return '1';
    return name === 'name' || name === 'cluster_name' ? 'prod' : '018f3c1e-0000-7000-8000-000000000000';
  };
  const fillPath = (bad?: { name: string; value: string }) =>
    template.replace(/\{([^}]+)\}/g, (_, name) => (bad && bad.name === name ? bad.value : good(name)));

  for (const p of pathParams) {
    for (const value of BAD_IDS) probes.push({ method, path: fillPath({ name: p.name, value }), what: `path ${p.name}=${value.slice(0, 20)}` });
    if (p.schema?.type !== 'string') continue;
    const nul = fillPath({ name: p.name, value: encodeURIComponent(NUL) });
    // Subscription links answer anything malformed with the same plain 404 as an unknown link.
    probes.push(
      template.startsWith('/sub/')
        ? { method, path: nul, what: `NUL in path ${p.name}`, expect: /^Not Found$/, status: 404 }
        : { method, path: nul, what: `NUL in path ${p.name}`, expect: /NUL/ },
    );
  }

  const base = fillPath();
  probes.push({ method, path: `${base}?unknown_param=1`, what: 'unknown query param' });
  probes.push({ method, path: `${base}?__proto__=x`, what: 'prototype query param' });
  probes.push({ method, path: `${base}?constructor=x`, what: 'constructor query param' });
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  if (!isPublic)
    for (const authorization of BAD_AUTH) probes.push({ method, path: base, authorization, what: `authorization "${authorization.slice(0, 20)}"` });
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  // Fastify validates the body before the query string: only without one is the query's own refusal visible.
  const queryFirst = !bodySchema;
  for (const p of params.filter((q) => q.in === 'query')) {
    const query = (value: string) => `${base}?${p.name}=${encodeURIComponent(value)}`;
    for (const value of wrongQueryValues(p.schema)) probes.push({ method, path: query(value), what: `query ${p.name}` });
    if (branches(p.schema).some((b: any) => b.type === 'string')) {
      probes.push({ method, path: query(NUL), what: `NUL in query ${p.name}`, ...(queryFirst ? { expect: /NUL/ } : {}) });
      if (/date/.test(p.schema.format ?? ''))
        for (const bad of BAD_TIMESTAMPS)
          probes.push({ method, path: query(bad), what: `${bad} in query ${p.name}`, ...(queryFirst ? { expect: /date/ } : {}) });
    }
  }

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
    probes.push(...hostileValueProbes(method, base, bodySchema));
  }
  return probes;
}

/** Sends a probe with its face's real credential, unless the probe is about the credential itself. */
function send(server: TestServer, credentials: Credentials, probe: Probe): Promise<Response> {
  const auth = probe.authorization !== undefined ? { authorization: probe.authorization } : credentials.headers(probe.path, probe.method);
  return fetch(server.url + probe.path, {
    method: probe.method,
    headers: { ...auth, ...(probe.body !== undefined ? { 'content-type': probe.contentType ?? 'application/json' } : {}) },
    body: probe.body,
  });
}

for (const engine of testEngines()) {
  describe(`hostile input [${engine}]`, () => {
    let server: TestServer;
    let credentials: Credentials;
    before(async () => {
      server = await startServer(engine, { BODY_LIMIT_BYTES: String(256 * 1024) });
      await createCluster(server.api, { name: 'prod' });
      const agent = await registerAgent(server.api, { cluster: 'prod' });
      const ticket = await joinTicket(server.api, 'prod');
      const core = await registeredNode(server.api);
      credentials = {
        headers(path, method): Record<string, string> {
          if (path.startsWith('/node/')) return { 'x-node-auth-key': core.authKey };
          // Registration takes a join ticket; every other agent route the node's api_token.
          if (path.startsWith('/api/v1/agents/nodes') && method === 'POST') return { authorization: `Bearer ${ticket}` };
          if (path.startsWith('/api/v1/agents/')) return { authorization: `Bearer ${agent.apiToken}` };
          return { authorization: `Bearer ${server.masterKey}` };
        },
      };
      // Registration and the first heartbeat settle before the snapshot.
      await server.ctx.jobs.drain();
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
          probes.push({
            method: method.toUpperCase(),
            path: path.replace(/\{[^}]+\}/g, 'prod'),
            body: JSON.stringify({ blob: 'y'.repeat(300 * 1024) }),
            what: 'body over limit',
          });
        }
      }
      for (const [prefix, least] of [
        ['/api/v1/agents/', 15],
        ['/node/', 15],
        ['/sub/', 1],
      ] as const) {
        assert.ok(probes.filter((p) => p.path.startsWith(prefix) && p.expect).length >= least, `too few hostile-value probes under ${prefix}`);
      }
      assert.ok(probes.length >= 1000, `only ${probes.length} probes generated`);
      const publicRoutes = [
        '/api/v1/agents/enrollment_keys/verify',
        '/api/v1/agents/nodes',
        '/node/register',
        '/api/v1/clusters/default/enrollment_keys/public',
        '/sub/',
      ];
      const perPublic = publicRoutes.map((r) => `${r} ${probes.filter((p) => p.path.startsWith(r)).length}`).join(', ');
      for (const prefix of ['/api/v1/agents/', '/node/', '/sub/'])
        console.log(`  ${prefix}: ${probes.filter((p) => p.path.startsWith(prefix) && p.expect).length} hostile-value probes`);
      console.log(`hostile input [${engine}]: ${probes.length} malformed requests across ${Object.keys(doc.paths).length} paths (public routes: ${perPublic})`);

      const before = await databaseSnapshot(server);
      const failures: string[] = [];
      const queue = [...probes];
      const worker = async () => {
        for (let probe = queue.shift(); probe; probe = queue.shift()) {
          const res = await send(server, credentials, probe);
          const text = await res.text();
          const where = `${probe.method} ${probe.path.slice(0, 120)} (${probe.what})`;
          if (res.status >= 500) failures.push(`${where} → ${res.status} ${text.slice(0, 200)}`);
          else if (res.status < 400) failures.push(`${where} was accepted with ${res.status}`);
          else if (probe.expect && (res.status !== (probe.status ?? 400) || !probe.expect.test(text)))
            failures.push(`${where} → ${res.status}, not refused for that: ${text.slice(0, 200)}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.deepEqual(failures, []);

      const health = await server.api.get('/health');
      assert.equal(health.status, 200);
      assert.equal(await databaseSnapshot(server), before, 'the database changed');
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    });

    // The manager face's own listener (TLS) has its own document, built but not served.
    it('answers every malformed manager-face request without a 5xx and changes nothing', async () => {
      const doc = server.managerApp!.swagger() as any;
      const probes: Probe[] = [];
      for (const [path, item] of Object.entries<any>(doc.paths)) {
        for (const [method, op] of Object.entries<any>(item)) probes.push(...probesFor(method.toUpperCase(), path, op));
        const concrete = path.replace(/\{[^}]+\}/g, 'prod');
        probes.push({ method: 'PATCH', path: concrete, body: '{}', what: 'unrouted method' });
        probes.push({ method: 'GET', path: `${concrete}/no-such-thing`, what: 'unrouted sub-path' });
        for (const method of Object.keys(item).filter((m) => ['post', 'put'].includes(m)))
          probes.push({ method: method.toUpperCase(), path: concrete, body: JSON.stringify({ blob: 'y'.repeat(300 * 1024) }), what: 'body over limit' });
      }
      assert.ok(probes.filter((p) => p.path.startsWith('/api/v1/nodes') && p.expect).length >= 10, 'too few hostile-value probes on manager nodes');
      console.log(`hostile input, manager face [${engine}]: ${probes.length} malformed requests across ${Object.keys(doc.paths).length} paths`);

      const client = new HttpsApiClient(server.managerUrl, server.managerCert, null);
      const before = await databaseSnapshot(server);
      const failures: string[] = [];
      const queue = [...probes];
      const worker = async () => {
        for (let probe = queue.shift(); probe; probe = queue.shift()) {
          const headers: Record<string, string> = { authorization: probe.authorization ?? `Bearer ${server.masterKey}` };
          if (probe.body !== undefined) headers['content-type'] = probe.contentType ?? 'application/json';
          const res = await client.request(probe.method, probe.path, { headers, ...(probe.body !== undefined ? { rawBody: probe.body } : {}) });
          const where = `${probe.method} ${probe.path.slice(0, 120)} (${probe.what})`;
          // The form login answers every refusal with a redirect to the login page (manager spec §5.1).
          const formRefusal = res.status === 303 && (res.headers.get('location') ?? '').startsWith('/login?error=');
          if (res.status >= 500) failures.push(`${where} → ${res.status} ${res.text.slice(0, 200)}`);
          else if (formRefusal) continue;
          else if (res.status < 400) failures.push(`${where} was accepted with ${res.status}`);
          else if (typeof res.body !== 'object' || typeof res.body?.error !== 'string')
            failures.push(`${where} → ${res.status} without {"error"}: ${res.text.slice(0, 200)}`);
          else if (probe.expect && (res.status !== (probe.status ?? 400) || !probe.expect.test(res.text)))
            failures.push(`${where} → ${res.status}, not refused for that: ${res.text.slice(0, 200)}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.deepEqual(failures, []);
      assert.equal((await client.get('/health')).status, 200);
      assert.equal(await databaseSnapshot(server), before, 'the database changed');
    });
  });
}
