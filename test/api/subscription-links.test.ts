/**
 * `GET /sub/{linkUuid}` over real HTTP: the base64 document of share links a client imports, decoded
 * back link by link, its usage headers, and the plain 404 for anything that is not a live link.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import {
  createCoreNode,
  createNodeProtocol,
  createSubscription,
  createVpnUser,
  type DecodedLink,
  decodeShareLink,
  grant,
  type VpnFixtures,
} from '../helpers/vpn.ts';
import { createSubscription as createApiSubscription, createProtocol, createUser, registeredNode } from '../helpers/vpn-admin.ts';

for (const engine of testEngines()) {
  describe(`subscription links [${engine}]`, () => {
    let server: TestServer;
    let f: VpnFixtures;
    const serverKey = randomBytes(16).toString('base64');

    before(async () => {
      server = await startServer(engine);
      f = { db: server.ctx.database.db, secrets: server.ctx.secrets };
    });
    after(() => server.stop());

    const fetchSub = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${server.url}${path}`, init);
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    const linesOf = (body: string) => (body === '' ? [] : Buffer.from(body, 'base64').toString('utf8').split('\n'));

    /** A user with one subscription granted one protocol of every kind, plus protocols it must not see. */
    async function fullSetup(subOverrides: Parameters<typeof createSubscription>[2] = {}) {
      const user = await createVpnUser(f, { username: `alice-${randomBytes(3).toString('hex')}` });
      const sub = await createSubscription(f, user.id, { ss_password: randomBytes(16).toString('base64'), ...subOverrides });
      const ams = await createCoreNode(f, { name: `a-ams-${randomBytes(3).toString('hex')}`, host: 'ams.vpn.example.com' });
      const off = await createCoreNode(f, { name: `b-off-${randomBytes(3).toString('hex')}`, status: 'disabled' });
      const p = {
        vless: await createNodeProtocol(f, ams.nodeId, {
          protocol: 'vless',
          port: 443,
          transport: 'tcp',
          security: 'reality',
          flow: 'xtls-rprx-vision',
          reality_settings: {
            target: 'www.microsoft.com:443',
            server_names: ['www.microsoft.com'],
            private_key_enc: f.secrets.seal('PRIVATE-KEY-NEVER-IN-LINKS'),
            short_ids: ['a1b2c3d4'],
            public_key: 'PUBKEY',
            fingerprint: 'safari',
          },
          remark: 'AMS Reality',
        }),
        vmess: await createNodeProtocol(f, ams.nodeId, {
          protocol: 'vmess',
          port: 2083,
          transport: 'ws',
          transport_settings: { path: '/vm', host: 'cdn.example.com' },
          security: 'tls',
          tls_settings: { server_name: 'cdn.example.com', alpn: ['h2'] },
        }),
        trojan: await createNodeProtocol(f, ams.nodeId, {
          protocol: 'trojan',
          port: 2096,
          transport: 'grpc',
          transport_settings: { service_name: 'tr' },
          security: 'tls',
          tls_settings: { server_name: 'ams.vpn.example.com' },
        }),
        ss: await createNodeProtocol(f, ams.nodeId, { protocol: 'shadowsocks', port: 8388, ss_method: 'aes-256-gcm' }),
        ss2022: await createNodeProtocol(f, ams.nodeId, {
          protocol: 'shadowsocks',
          port: 8389,
          ss_method: '2022-blake3-aes-128-gcm',
          ss_server_key: serverKey,
        }),
        mtproto: await createNodeProtocol(f, ams.nodeId, {
          protocol: 'mtproto',
          port: 8443,
          mtproto_settings: { tls_domain: 'www.google.com', extra_tls_domains: ['www.cloudflare.com'], mask: true, use_middle_proxy: true },
        }),
        disabled: await createNodeProtocol(f, ams.nodeId, { protocol: 'vless', port: 9443, enabled: false }),
        onDisabledNode: await createNodeProtocol(f, off.nodeId, { protocol: 'vless', port: 443 }),
        notGranted: await createNodeProtocol(f, ams.nodeId, { protocol: 'vless', port: 10443 }),
      };
      for (const [name, protocol] of Object.entries(p)) if (name !== 'notGranted') await grant(f, sub.id, protocol.id);
      return { user, sub, ams, p };
    }

    it('serves every granted, enabled protocol as a share link, base64 of the lines', async () => {
      const { user, sub, ams } = await fullSetup();
      const res = await fetchSub(`/sub/${sub.link_uuid}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(res.text, /^[A-Za-z0-9+/]+=*$/);
      const links = linesOf(res.text).map(decodeShareLink);
      const secret = sub.link_uuid.replaceAll('-', '');
      const remark = (protocol: string) => `${ams.name} ${protocol}`;
      assert.deepEqual(links, [
        {
          scheme: 'vless',
          credential: sub.link_uuid,
          host: 'ams.vpn.example.com',
          port: 443,
          params: {
            type: 'tcp',
            security: 'reality',
            encryption: 'none',
            flow: 'xtls-rprx-vision',
            sni: 'www.microsoft.com',
            fp: 'safari',
            pbk: 'PUBKEY',
            sid: 'a1b2c3d4',
          },
          remark: 'AMS Reality',
        },
        {
          scheme: 'vmess',
          json: {
            v: '2',
            ps: remark('vmess'),
            add: 'ams.vpn.example.com',
            port: '2083',
            id: sub.link_uuid,
            aid: '0',
            scy: 'auto',
            net: 'ws',
            type: 'none',
            host: 'cdn.example.com',
            path: '/vm',
            tls: 'tls',
            sni: 'cdn.example.com',
            fp: '',
            alpn: 'h2',
          },
        },
        {
          scheme: 'trojan',
          credential: sub.link_uuid,
          host: 'ams.vpn.example.com',
          port: 2096,
          params: { type: 'grpc', security: 'tls', sni: 'ams.vpn.example.com', serviceName: 'tr', mode: 'gun' },
          remark: remark('trojan'),
        },
        {
          scheme: 'ss',
          method: 'aes-256-gcm',
          password: sub.ssPassword,
          encoding: 'base64url',
          host: 'ams.vpn.example.com',
          port: 8388,
          remark: remark('shadowsocks'),
        },
        {
          scheme: 'ss',
          method: '2022-blake3-aes-128-gcm',
          password: `${serverKey}:${sub.ssPassword}`,
          encoding: 'percent',
          host: 'ams.vpn.example.com',
          port: 8389,
          remark: remark('shadowsocks'),
        },
        { scheme: 'tg', server: 'ams.vpn.example.com', port: 8443, secret: `ee${secret}${Buffer.from('www.google.com').toString('hex')}` },
        { scheme: 'tg', server: 'ams.vpn.example.com', port: 8443, secret: `ee${secret}${Buffer.from('www.cloudflare.com').toString('hex')}` },
      ]);
      assert.ok(!Buffer.from(res.text, 'base64').toString().includes('PRIVATE-KEY'), 'server-side secrets stay out');

      assert.equal(res.headers.get('subscription-userinfo'), 'upload=0; download=0; total=0; expire=0');
      assert.equal(res.headers.get('profile-update-interval'), '12');
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${user.username}"`);
      assert.equal(res.headers.get('profile-title'), `base64:${Buffer.from(user.username).toString('base64')}`);

      // Clients that upper-case the UUID get the same document.
      assert.equal((await fetchSub(`/sub/${sub.link_uuid.toUpperCase()}`)).text, res.text);
    });

    it('reports usage, limit and expiry in subscription-userinfo and still serves limited and expired subscriptions', async () => {
      const expires = '2030-01-02T03:04:05.000Z';
      const { sub } = await fullSetup({
        status: 'limited',
        traffic_limit_bytes: 5_000_000_000,
        used_up_bytes: 1_234_567,
        used_down_bytes: 4_999_999_999,
        expires_at: expires,
      });
      const res = await fetchSub(`/sub/${sub.link_uuid}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('subscription-userinfo'), `upload=1234567; download=4999999999; total=5000000000; expire=${Date.parse(expires) / 1000}`);
      assert.equal(linesOf(res.text).length, 7);

      const user = await createVpnUser(f);
      const expired = await createSubscription(f, user.id, { status: 'expired', expires_at: '2020-01-01T00:00:00.000Z' });
      const empty = await fetchSub(`/sub/${expired.link_uuid}`);
      assert.equal(empty.status, 200, 'a subscription without grants has an empty document');
      assert.equal(empty.text, '');
      assert.match(empty.headers.get('subscription-userinfo') ?? '', /expire=1577836800$/);
    });

    it('answers a plain 404 for unknown and malformed links', async () => {
      for (const path of [
        `/sub/${randomUUID()}`,
        '/sub/not-a-uuid',
        `/sub/${'x'.repeat(80)}`,
        `/sub/${randomUUID()}?format=clash`,
        '/sub/%27%20or%201%3D1--',
      ]) {
        const res = await fetchSub(path);
        assert.equal(res.status, 404, path);
        assert.equal(res.text, 'Not Found', path);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, path);
        assert.equal(res.headers.get('subscription-userinfo'), null);
      }
      // Past the router's parameter limit the answer is a 414, still without any document.
      assert.equal((await fetchSub(`/sub/${'x'.repeat(300)}`)).status, 414);
    });

    it('after a revoke, the new link serves the new credentials, the old link is gone and no node holds the old ones', async () => {
      const api = server.api;
      const node = await registeredNode(api, { host: 'revoke.vpn.example.com' });
      const vless = await createProtocol(api, node.node.id, { protocol: 'vless', port: 443 });
      const ss = await createProtocol(api, node.node.id, { protocol: 'shadowsocks', port: 8388, ss_method: 'aes-256-gcm' });
      const user = await createUser(api);
      const sub = await createApiSubscription(api, user.id, { node_protocol_ids: [vless.id, ss.id] });
      const credentials = async (linkUuid: string) => {
        const res = await fetchSub(`/sub/${linkUuid}`);
        assert.equal(res.status, 200, `/sub/${linkUuid}`);
        const links = linesOf(res.text).map(decodeShareLink);
        return { vless: links.find((l) => l.scheme === 'vless'), ss: links.find((l) => l.scheme === 'ss') } as {
          vless: Extract<DecodedLink, { scheme: 'vless' | 'trojan' }>;
          ss: Extract<DecodedLink, { scheme: 'ss' }>;
        };
      };
      const before = await credentials(sub.link_uuid);
      assert.equal(before.vless.credential, sub.link_uuid);

      const revoked = await api.post(`/api/v1/vpn/subscriptions/${sub.id}/revoke`);
      assert.equal(revoked.status, 200);
      const newLink = revoked.body.data.link_uuid as string;
      assert.notEqual(newLink, sub.link_uuid);
      assert.equal((await api.get(`/api/v1/vpn/subscriptions/${sub.id}`)).body.data.link_uuid, newLink, 'GET shows the new link too');

      assert.equal((await fetchSub(`/sub/${sub.link_uuid}`)).status, 404, 'the old subscription URL is dead');
      const after = await credentials(newLink);
      assert.equal(after.vless.credential, newLink, 'the new URL serves the new VLESS id');
      assert.equal(after.vless.host, 'revoke.vpn.example.com');
      assert.notEqual(after.ss.password, before.ss.password, 'and a new Shadowsocks secret');

      // What the node is told to serve: the new credentials, none of the old.
      const config = await node.client.get('/config/latest');
      assert.equal(config.status, 200);
      assert.ok(config.text.includes(newLink), 'the node config holds the new link UUID');
      assert.ok(!config.text.includes(sub.link_uuid), 'the old link UUID is on no node');
      assert.ok(config.text.includes(after.ss.password) && !config.text.includes(before.ss.password), 'the old Shadowsocks secret is on no node');
    });

    it('is public and ignores admin credentials', async () => {
      const user = await createVpnUser(f);
      const sub = await createSubscription(f, user.id);
      assert.equal((await fetchSub(`/sub/${sub.link_uuid}`, { headers: { authorization: 'Bearer wrong' } })).status, 200);
    });
  });
}
