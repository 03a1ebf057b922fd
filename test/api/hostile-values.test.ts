/**
 * Hostile values refused at the validator for every face (issue 10, "Hostile values"): NUL in any
 * string, timestamps no storage column can order, and JSON nested past any real payload. Each is a
 * 400 in the face's own error format, never a 5xx, and nothing is stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createCluster } from '../helpers/factories.ts';
import { registerAgent, joinTicket, registrationBody, type RegisteredAgent } from '../helpers/agents.ts';
import { createSubscription, createUser, registeredNode, type NodeClient } from '../helpers/vpn-admin.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};
/** `{"a":{"a":…1…}}` as text: JSON.stringify itself overflows long before 5,000 levels. */
const nestedText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

for (const engine of testEngines()) {
  describe(`hostile values [${engine}]`, () => {
    let server: TestServer;
    let agent: RegisteredAgent;
    let core: { node: { id: string }; client: NodeClient };
    let executionId: string;
    let userId: number;

    before(async () => {
      server = await startServer(engine);
      await createCluster(server.api, { name: 'prod' });
      agent = await registerAgent(server.api, { cluster: 'prod' });
      const command = await server.api.post('/api/v1/commands', {
        command_text: 'cat /proc/1/cmdline',
        targeting: { type: 'nodes', node_ids: [agent.nodeId] },
      });
      assert.equal(command.status, 201, command.text);
      await server.ctx.jobs.drain();
      const list = await server.api.get(`/api/v1/command_executions?command_id=${command.body.data.id}`);
      executionId = list.body.data[0].id;
      assert.equal((await agent.client.patch(`/api/v1/agents/command_executions/${executionId}/acknowledge`)).status, 200);
      core = await registeredNode(server.api);
      userId = (await createUser(server.api)).id;
    });
    after(() => server.stop());

    /** Sends each request, asserts a 400 and that the database did not move. */
    async function refused(what: string, send: () => Promise<{ status: number; body: any; text: string }>): Promise<any> {
      // Work queued by an earlier accepted request must not pass for a change made by this one.
      await server.ctx.jobs.drain();
      const before = await databaseSnapshot(server);
      const res = await send();
      assert.equal(res.status, 400, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
      assert.equal(await databaseSnapshot(server), before, `${what}: the database changed`);
      return res.body;
    }

    it("refuses NUL in bodies, query strings and free-form values with a 400 in each face's format", async () => {
      const anon = server.api.withToken(null);
      const admin = [
        ['enrollment-key verify', () => anon.post('/api/v1/agents/enrollment_keys/verify', { key: 'abc\u0000def' })],
        ['command text', () => server.api.post('/api/v1/commands', { command_text: 'echo a\u0000b', targeting: { type: 'nodes', node_ids: [agent.nodeId] } })],
        ['list filter', () => server.api.get('/api/v1/enrollment_keys?name=a%00b')],
        ['node list filter', () => server.api.get('/api/v1/nodes?version=%00')],
        [
          'webhook header name',
          () =>
            server.api.post('/api/v1/webhooks', {
              url: 'https://example.com/h',
              secret: 's'.repeat(32),
              subscribed_events: ['node.registered'],
              headers: { 'x-a\u0000': 'v' },
            }),
        ],
        [
          'outbound settings',
          () =>
            server.api.post('/api/v1/vpn/node_outbounds', {
              node_id: core.node.id,
              tag: 'warp',
              protocol: 'socks',
              settings: { servers: [{ address: '127.0.0.1\u0000' }] },
            }),
        ],
      ] as const;
      for (const [what, send] of admin) {
        const body = await refused(what, send);
        assert.equal(body.error.code, 'bad_request', what);
        assert.match(JSON.stringify(body.error.details), /NUL/, what);
      }

      const ticket = await joinTicket(server.api, 'prod');
      const agentFace = [
        ['registration', () => server.api.withToken(ticket).post('/api/v1/agents/nodes', registrationBody('prod', { version: '0.1\u0000' }))],
        ['ssh verify', () => agent.client.post('/api/v1/agents/ssh_usernames/verify_credentials', { username: 'root\u0000', password: 'x' })],
        [
          'command result',
          () =>
            agent.client.patch(`/api/v1/agents/command_executions/${executionId}/result`, {
              status: 'completed',
              exit_code: 0,
              output: 'init\u0000--foo\u0000',
            }),
        ],
      ] as const;
      for (const [what, send] of agentFace) {
        const body = await refused(what, send);
        assert.match(JSON.stringify(body.error.details), /NUL/, what);
      }

      const coreFace = [
        ['outbound usage', () => core.client.post('/outbound-usage', { items: [{ tag: 'dir\u0000ect', bytesUp: 1, bytesDown: 1 }] })],
        ['error details', () => core.client.post('/error', { message: 'boom', details: { stderr: ['line\u0000'] } })],
        ['error details key', () => core.client.post('/error', { message: 'boom', details: { 'k\u0000': 1 } })],
      ] as const;
      for (const [what, send] of coreFace) {
        const body = await refused(what, send);
        assert.equal(body.statusCode, 400, what);
        assert.equal(body.error, 'Bad Request', what);
        assert.match([body.message].flat().join('\n'), /NUL/, what);
      }
    });

    it('refuses leap seconds and instants outside years 0000–9999 in UTC, and stores offsets as canonical UTC', async () => {
      for (const bad of ['2016-12-31T23:59:60Z', '9999-12-31T23:59:59-23:59', '10000-01-01T00:00:00Z', '0000-01-01T00:00:00+00:01']) {
        const result = await refused(`command result ${bad}`, () =>
          agent.client.patch(`/api/v1/agents/command_executions/${executionId}/result`, { status: 'completed', exit_code: 0, output: 'ok', completed_at: bad }),
        );
        assert.deepEqual(result.error.details, { completed_at: ['Invalid format. Expected :date-time'] });
        const subscription = await refused(`subscription ${bad}`, () => server.api.post('/api/v1/vpn/subscriptions', { user_id: userId, expires_at: bad }));
        assert.deepEqual(subscription.error.details, { expires_at: ['Invalid format. Expected :date-time'] });
        const command = await refused(`command ${bad}`, () =>
          server.api.post('/api/v1/commands', { command_text: 'true', expired_at: bad, targeting: { type: 'nodes', node_ids: [agent.nodeId] } }),
        );
        assert.deepEqual(command.error.details, { expired_at: ['Invalid format. Expected :date-time'] });
        await refused(`list filter ${bad}`, () => server.api.get(`/api/v1/commands?expired_at__gte=${encodeURIComponent(bad)}`));
      }

      // The last instant of 9999 in a far-east offset is still a four-digit UTC year: accepted, as UTC.
      const sub = await createSubscription(server.api, userId, { expires_at: '9999-12-31T23:59:59+23:59' });
      const read = await server.api.get(`/api/v1/vpn/subscriptions/${sub.id}`);
      assert.match(read.body.data.expires_at, /^9999-12-31T00:00:59(\.000)?Z$/);
      const command = await server.api.post('/api/v1/commands', {
        command_text: 'true',
        expired_at: '2031-01-01 01:30:00.123456+01:30',
        targeting: { type: 'nodes', node_ids: [agent.nodeId] },
      });
      assert.equal(command.status, 201, command.text);
      assert.equal(command.body.data.expired_at, '2031-01-01T00:00:00Z');
      const done = await agent.client.patch(`/api/v1/agents/command_executions/${executionId}/result`, {
        status: 'completed',
        exit_code: 0,
        output: 'init\uFFFD',
        completed_at: '2025-06-09T10:00:00+02:00',
      });
      assert.equal(done.status, 200, done.text);
      const execution = await server.api.get(`/api/v1/command_executions/${executionId}`);
      assert.equal(execution.body.data.completed_at, '2025-06-09T08:00:00Z');
    });

    it('bounds the nesting of free-form fields and of whole bodies', async () => {
      const error = await refused('error details 33 deep', () => core.client.post('/error', { message: 'boom', details: nested(33) as object }));
      assert.deepEqual(error.message, ['details: Nested deeper than 32 levels']);
      const ok = await core.client.post('/error', { message: 'boom', details: nested(31) as object });
      assert.equal(ok.status, 200, ok.text);

      const settings = await refused('outbound settings 33 deep', () =>
        server.api.post('/api/v1/vpn/node_outbounds', { node_id: core.node.id, tag: 'warp', protocol: 'socks', settings: nested(33) }),
      );
      assert.deepEqual(settings.error.details, { settings: ['Nested deeper than 32 levels'] });
      const thousands = await refused('outbound settings 5,000 deep', () =>
        server.api.request('POST', '/api/v1/vpn/node_outbounds', {
          rawBody: `{"node_id":"${core.node.id}","tag":"warp","protocol":"socks","settings":${nestedText(5000)}}`,
        }),
      );
      assert.deepEqual(thousands.error.details, { '': ['Nested deeper than 64 levels'] });

      // Arrays nested far past what a recursive walk survives, on every face.
      const arrays = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
      const adminBody = await refused('deep arrays, admin', () => server.api.request('POST', '/api/v1/commands', { rawBody: arrays }));
      assert.equal(adminBody.error.code, 'bad_request');
      const agentBody = await refused('deep arrays, agent', () =>
        agent.client.request('PATCH', `/api/v1/agents/command_executions/${executionId}/result`, { rawBody: `{"status":"completed","x":${arrays}}` }),
      );
      assert.equal(agentBody.error.code, 'bad_request');
      const coreBody = await refused('deep arrays, core', () =>
        core.client.api.request('POST', '/node/error', {
          rawBody: `{"message":"x","details":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`,
          headers: { 'x-node-auth-key': core.client.authKey! },
        }),
      );
      assert.equal(coreBody.statusCode, 400);
      assert.match([coreBody.message].flat().join(), /Nested deeper than 64 levels/);
      assert.equal((await server.api.get('/health')).status, 200);
    });
  });
}
