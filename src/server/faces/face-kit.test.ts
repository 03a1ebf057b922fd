import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, ConflictError, ValidationError } from '../errors.ts';
import { validatorCompiler } from '../http/validation.ts';
import { RateLimitedError } from '../http/rate-limit.ts';
import { classify, DEFAULT_STATUS, type FaceErrors, installAuthenticator, installFace, installFaceKit, nodeOf, readToken } from './face-kit.ts';

const request = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as FastifyRequest;

describe('face kit: token parser', () => {
  it('reads a Bearer token exactly, and nothing else', () => {
    assert.equal(readToken(request({ authorization: 'Bearer abc.DEF-123' })), 'abc.DEF-123');
    for (const header of ['bearer abc', 'Bearer  abc', 'Bearer abc def', 'Bearer abc,def', 'Bearer ', 'Basic abc', 'abc', '']) {
      assert.equal(readToken(request({ authorization: header })), null, JSON.stringify(header));
    }
    assert.equal(readToken(request({})), null);
  });

  it('reads a whole header as the token, bounded in length', () => {
    const source = { header: 'x-node-auth-key', maxLength: 8 };
    assert.equal(readToken(request({ 'x-node-auth-key': 'k3y' }), source), 'k3y');
    assert.equal(readToken(request({ 'x-node-auth-key': '123456789' }), source), null);
    assert.equal(readToken(request({ 'x-node-auth-key': '' }), source), null);
    assert.equal(readToken(request({ 'x-node-auth-key': ['a', 'b'] }), source), null);
    assert.equal(readToken(request({ authorization: 'Bearer k3y' }), source), null);
  });
});

describe('face kit: classify', () => {
  const status = { ...DEFAULT_STATUS, validation_failed: 400 };

  it('maps domain errors through the face status map', () => {
    const failure = classify(new ConflictError('taken'), status);
    assert.equal(failure.kind, 'app');
    assert.equal(failure.status, 409);
    assert.equal(classify(ValidationError.field('name', 'bad'), status).status, 400);
    assert.equal(classify(ValidationError.field('name', 'bad'), DEFAULT_STATUS).status, 422);
  });

  it('sorts the framework errors once', () => {
    const validation = Object.assign(new Error('x'), {
      statusCode: 400,
      validation: [{ keyword: 'required', instancePath: '', schemaPath: '', params: { missingProperty: 'name' } }],
    });
    assert.deepEqual(classify(validation, status), {
      kind: 'validation',
      status: 400,
      details: Object.assign(Object.create(null), { name: ['Missing field: name'] }),
    });
    assert.equal(classify(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }), status).kind, 'invalid_json');
    assert.equal(classify(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }), status).kind, 'invalid_json');
    assert.equal(classify(new SyntaxError('Unexpected token'), status).kind, 'invalid_json');
    assert.equal(classify(Object.assign(new Error('x'), { statusCode: 413 }), status).kind, 'too_large');
    assert.deepEqual(classify(Object.assign(new Error('Unsupported Media Type: text/csv'), { statusCode: 415 }), status), {
      kind: 'unsupported_media_type',
      status: 415,
      message: 'Unsupported Media Type: text/csv',
    });
    assert.equal(classify(new RateLimitedError('slow down'), status).kind, 'rate_limited');
    assert.deepEqual(classify(Object.assign(new Error('Method Not Allowed'), { statusCode: 405 }), status), {
      kind: 'client',
      status: 405,
      message: 'Method Not Allowed',
    });
    assert.deepEqual(classify(new Error('boom'), status), { kind: 'internal', status: 500 });
    assert.deepEqual(classify(Object.assign(new Error('db down'), { statusCode: 503 }), status), { kind: 'internal', status: 500 });
  });
});

/** A face that writes `kind status message`, so each test sees what the pipeline handed it. */
const plain = (name: string): FaceErrors => ({
  status: DEFAULT_STATUS,
  render: (failure, _request, reply) =>
    reply
      .code(failure.status)
      .type('text/plain')
      .send(`${name} ${failure.kind}${failure.kind === 'app' ? ` ${failure.error.code}` : ''}`),
});

describe('face kit: faces, authenticators and principals', () => {
  let app: FastifyInstance;

  before(async () => {
    app = Fastify({ logger: false, bodyLimit: 64 });
    app.setValidatorCompiler(validatorCompiler);
    installFaceKit(app, plain('root'));
    app.get('/open', async (req) => req.principal);
    await app.register(
      async (face) => {
        installFace(face, plain('keys'));
        installAuthenticator(
          face,
          async (req, need) => (readToken(req) === `${need}-key` ? { type: 'api-key', key: need } : null),
          () => new AppError('unauthorized', 'no'),
        );
        face.get('/who', async (req) => req.principal);
        face.get('/metrics', { config: { auth: 'metrics' } }, async (req) => req.principal);
        face.get('/public', { config: { auth: 'public' } }, async (req) => req.principal);
        face.get('/node', async (req) => nodeOf(req));
        face.post('/body', { schema: { body: Type.Object({ name: Type.String() }, { additionalProperties: false }) } }, async () => ({ ok: true }));
      },
      { prefix: '/keys' },
    );
    await app.register(
      async (face) => {
        installFace(face, plain('nodes'));
        installAuthenticator(
          face,
          async (req) => (readToken(req) === 'node-token' ? { type: 'node', id: 'n1', kind: 'edge-agent' } : null),
          () => new AppError('unauthorized', 'no'),
        );
        face.get('/me', async (req) => nodeOf(req));
      },
      { prefix: '/nodes' },
    );
  });
  after(() => app?.close());

  const get = (url: string, token?: string) => app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('starts every request public', async () => {
    assert.deepEqual((await get('/open', 'api-key')).json(), { type: 'public' });
    assert.deepEqual((await get('/keys/public', 'api-key')).json(), { type: 'public' });
  });

  it("sets the authenticator's principal, per route need", async () => {
    assert.deepEqual((await get('/keys/who', 'api-key')).json(), { type: 'api-key', key: 'api' });
    assert.deepEqual((await get('/keys/metrics', 'metrics-key')).json(), { type: 'api-key', key: 'metrics' });
    assert.deepEqual((await get('/nodes/me', 'node-token')).json(), { type: 'node', id: 'n1', kind: 'edge-agent' });
  });

  it("refuses a missing or wrong credential in the face's own format", async () => {
    for (const [url, token] of [
      ['/keys/who', undefined],
      ['/keys/who', 'metrics-key'],
      ['/keys/metrics', 'api-key'],
      ['/nodes/me', 'api-key'],
    ] as const) {
      const res = await get(url, token);
      assert.equal(res.statusCode, 401, url);
      assert.equal(res.body, `${url.split('/')[1]} app unauthorized`);
    }
  });

  it('renders validation, invalid JSON, 413 and 415 through the face, and unknown routes through the root', async () => {
    const post = (payload: string, contentType = 'application/json') =>
      app.inject({ method: 'POST', url: '/keys/body', headers: { authorization: 'Bearer api-key', 'content-type': contentType }, payload });
    assert.equal((await post('{"name":1}')).body, 'keys validation');
    assert.equal((await post('{"name":')).body, 'keys invalid_json');
    assert.equal((await post(JSON.stringify({ name: 'x'.repeat(100) }))).body, 'keys too_large');
    assert.equal((await post('name=x', 'text/csv')).body, 'keys unsupported_media_type');
    assert.equal((await post('{"name":"x"}')).statusCode, 200);
    const missing = await get('/keys/nowhere', 'api-key');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.body, 'root not_found');
  });

  it('treats a node-only route reached by another caller as a fault, not a client error', async () => {
    const res = await get('/keys/node', 'api-key');
    assert.equal(res.statusCode, 500);
    assert.equal(res.body, 'keys internal');
  });
});
