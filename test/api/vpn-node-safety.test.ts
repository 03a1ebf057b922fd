/**
 * The VPN nodes' own safety through the Admin API: what users may reach through a node (private
 * destinations blocked unless the operator opens one) and subscription links kept out of the logs.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/server/app.ts';
import { createNode, createProtocol, createSubscription, createUser } from '../helpers/vpn-admin.ts';
import { ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';

for (const engine of testEngines()) {
  describe(`VPN node safety [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer(engine);
    });
    after(() => server.stop());

    const configOf = async (id: string) => (await server.api.get(`/api/v1/vpn/nodes/${id}/config`)).body.data;

    describe('allowed_destinations', () => {
      it('blocks private destinations by default and opens exactly what the operator lists', async () => {
        const node = await createNode(server.api);
        await createProtocol(server.api, node.id, { protocol: 'vmess', port: 41001, transport: 'tcp', security: 'none' });
        const before = await configOf(node.id);
        assert.deepEqual(before.services.xray.routing.rules[0].outboundTag, 'block');
        assert.ok(before.services.xray.routing.rules[0].ip.includes('127.0.0.0/8'));

        const res = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { allowed_destinations: ['127.0.0.1:8080', '10.8.0.0/16'] });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.data.allowed_destinations, ['127.0.0.1:8080', '10.8.0.0/16']);
        assert.equal(res.body.data.revision, before.revision + 1, 'the node is told to resync');
        const rules = (await configOf(node.id)).services.xray.routing.rules;
        assert.deepEqual(rules.slice(0, 2), [
          { type: 'field', ip: ['10.8.0.0/16'], outboundTag: 'direct' },
          { type: 'field', ip: ['127.0.0.1'], port: '8080', outboundTag: 'direct' },
        ]);
        assert.equal(rules[2].outboundTag, 'block');

        const created = await createNode(server.api, { allowed_destinations: ['[fd00::1]:443'] });
        assert.deepEqual((await server.api.get(`/api/v1/vpn/nodes/${created.id}`)).body.data.allowed_destinations, ['[fd00::1]:443']);
      });

      it('refuses malformed entries with a 4xx naming the entry, storing nothing', async () => {
        const node = await createNode(server.api);
        const countNodes = async () =>
          Number(
            (
              await server.ctx.database.db
                .selectFrom('core_nodes')
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        const nodesBefore = await countNodes();
        const cases: Array<[unknown, number]> = [
          [['10.0.0.300'], 422],
          [['10.0.0.0/33'], 422],
          [['127.0.0.1:0'], 422],
          [['[::1]:99999'], 422],
          [['localhost:80'], 400],
          [['10.0.0.1', '10.0.0.1'], 400],
          [['1.2.3.4\u0000'], 400],
          [[42], 400],
          ['10.0.0.1', 400],
          [Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`), 400],
        ];
        for (const [value, status] of cases) {
          const patched = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { allowed_destinations: value });
          assert.equal(patched.status, status, `PATCH ${JSON.stringify(value).slice(0, 40)}: ${patched.text}`);
          assert.equal(typeof patched.body.error.message, 'string');
          const posted = await server.api.post('/api/v1/vpn/nodes', { name: 'x', host: 'x.example.com', allowed_destinations: value });
          assert.equal(posted.status, status, `POST ${JSON.stringify(value).slice(0, 40)}: ${posted.text}`);
        }
        const bad = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, { allowed_destinations: ['10.0.0.1', '10.0.0.300'] });
        assert.deepEqual(bad.body.error.details, { 'allowed_destinations/1': ['10.0.0.300 is not an IP address'] });
        const stored = (await server.api.get(`/api/v1/vpn/nodes/${node.id}`)).body.data;
        assert.deepEqual([stored.allowed_destinations, stored.revision], [[], node.revision]);
        assert.equal(await countNodes(), nodesBefore, 'no node was created');
      });
    });

    describe('subscription links in logs', () => {
      it('keeps the link UUID out of the access log, /sub/ and link_uuid filters alike', async () => {
        const lines: string[] = [];
        const stream = new Writable({
          write(chunk, _encoding, done) {
            lines.push(String(chunk));
            done();
          },
        });
        // The same logger options main.ts uses, writing to a stream the test reads.
        const app = await buildApp(server.ctx, { logger: { level: 'info', stream } });
        await app.listen({ port: 0, host: '127.0.0.1' });
        try {
          const address = app.server.address() as { port: number };
          const api = new ApiClient(`http://127.0.0.1:${address.port}`, server.masterKey);
          const user = await createUser(server.api);
          const sub = await createSubscription(server.api, user.id);

          assert.equal((await api.get(`/sub/${sub.link_uuid}`)).status, 200);
          assert.equal((await api.get(`/sub/${sub.link_uuid}/extra?x=1`)).status, 404);
          assert.equal((await api.get(`/api/v1/vpn/subscriptions?link_uuid=${sub.link_uuid}`)).status, 200);

          const log = lines.join('');
          assert.match(log, /\/sub\/\[redacted\]/, 'requests are still logged');
          assert.match(log, /link_uuid=\[redacted\]/);
          for (const form of [sub.link_uuid, sub.link_uuid.replaceAll('-', '')])
            assert.ok(!log.includes(form), `the link (${form}) is not in the log:\n${log}`);
        } finally {
          await app.close();
        }
      });
    });
  });
}
