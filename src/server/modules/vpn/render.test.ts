import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { dataKeyFromBytes, SecretBox } from '../../lib/secrets.ts';
import { newRealityPrivateKey, newSsSecret, realityPublicKey, ssUserPassword } from './credentials.ts';
import {
  configHash,
  configText,
  containsSecrets,
  redact,
  type GrantedSubscription,
  type OutboundRow,
  type ProtocolRow,
  type RenderedConfig,
  renderNodeConfig,
  type RenderInput,
  withRevision,
} from './render.ts';
import { toToml } from './toml.ts';
import { BLOCKED_CIDRS, destinationErrors, parseDestination } from './destinations.ts';

const box = new SecretBox(dataKeyFromBytes(randomBytes(32)));
const reveal = (s: string) => box.open(s);
/** The config as the node gets it: secrets opened. */
const render = (i: RenderInput): RenderedConfig => JSON.parse(configText(renderNodeConfig(i, NOW), reveal));
const NOW = '2030-01-01T00:00:00.000Z';
/** smol-toml builds null-prototype objects; compare plain data. */
const readToml = (text: string) => JSON.parse(JSON.stringify(parseToml(text)));

let nextId = 1;
function protocol(o: Partial<ProtocolRow>): ProtocolRow {
  return {
    id: nextId++,
    node_id: 'n',
    protocol: 'vless',
    port: 443,
    listen: null,
    transport: 'tcp',
    transport_settings: '{}',
    security: 'none',
    tls_settings: '{}',
    reality_settings: '{}',
    flow: null,
    ss_method: null,
    ss_server_key_enc: null,
    mtproto_settings: '{}',
    remark: null,
    enabled: 1,
    inserted_at: NOW,
    updated_at: NOW,
    ...o,
  };
}

function subscription(id: number, o: Partial<GrantedSubscription> = {}): GrantedSubscription & { secret: string } {
  const secret = newSsSecret();
  return {
    id,
    user_id: 100 + id,
    link_uuid: randomUUID(),
    status: 'active',
    traffic_limit_bytes: 0,
    used_up_bytes: 0,
    used_down_bytes: 0,
    expires_at: null,
    ss_password_enc: box.seal(secret),
    user_status: 'active',
    secret,
    ...o,
  };
}

function input(protocols: ProtocolRow[], grants: Array<[ProtocolRow, GrantedSubscription[]]>, extra: Partial<RenderInput> = {}): RenderInput {
  return {
    host: 'node.example.com',
    routingRules: '[]',
    allowedDestinations: '[]',
    protocols,
    grants: new Map(grants.map(([p, s]) => [p.id, s])),
    outbounds: [],
    ...extra,
  };
}

const BLOCK_RULE = { type: 'field', ip: BLOCKED_CIDRS, outboundTag: 'block' };

describe('NodeConfig renderer', () => {
  it('renders VLESS, VMess and Trojan clients keyed by link UUID, with per-inbound emails and np-<id> tags', () => {
    const vless = protocol({
      protocol: 'vless',
      port: 443,
      security: 'reality',
      flow: 'xtls-rprx-vision',
      reality_settings: JSON.stringify({
        target: 'www.example.com:443',
        server_names: ['www.example.com'],
        private_key_enc: box.seal('PRIVATE'),
        public_key: 'PUB',
        short_ids: ['', 'ab'],
      }),
    });
    const vmess = protocol({ protocol: 'vmess', port: 8080, transport: 'ws', transport_settings: JSON.stringify({ path: '/vm', host: 'cdn.example.com' }) });
    const trojan = protocol({ protocol: 'trojan', port: 8443 });
    const a = subscription(1);
    const b = subscription(2);
    const config = render(
      input(
        [vless, vmess, trojan],
        [
          [vless, [a, b]],
          [vmess, [a]],
          [trojan, [b]],
        ],
      ),
    );

    assert.deepEqual(config.clientMap, { [a.link_uuid]: { userId: 101, subscriptionId: 1 }, [b.link_uuid]: { userId: 102, subscriptionId: 2 } });
    const [ib1, ib2, ib3] = config.services.xray!.inbounds;
    assert.equal(ib1!.tag, `np-${vless.id}`);
    assert.deepEqual(ib1!.settings, {
      clients: [
        { id: a.link_uuid, email: `${a.link_uuid}@np-${vless.id}`, level: 0, flow: 'xtls-rprx-vision' },
        { id: b.link_uuid, email: `${b.link_uuid}@np-${vless.id}`, level: 0, flow: 'xtls-rprx-vision' },
      ],
      decryption: 'none',
    });
    assert.deepEqual(ib1!.streamSettings, {
      network: 'tcp',
      security: 'reality',
      realitySettings: { show: false, target: 'www.example.com:443', xver: 0, serverNames: ['www.example.com'], privateKey: 'PRIVATE', shortIds: ['', 'ab'] },
    });
    assert.deepEqual(ib2!.settings, { clients: [{ id: a.link_uuid, email: `${a.link_uuid}@np-${vmess.id}`, level: 0 }] });
    assert.deepEqual(ib2!.streamSettings, { network: 'ws', security: 'none', wsSettings: { path: '/vm', host: 'cdn.example.com' } });
    assert.deepEqual(ib3!.settings, { clients: [{ password: b.link_uuid, email: `${b.link_uuid}@np-${trojan.id}`, level: 0 }] });
    assert.deepEqual(ib3!.sniffing, { enabled: true, destOverride: ['http', 'tls', 'quic'] });
  });

  it('gives VLESS a flow only over tcp with TLS or REALITY', () => {
    const overWs = protocol({ protocol: 'vless', transport: 'ws', flow: 'xtls-rprx-vision' });
    const plain = protocol({ protocol: 'vless', transport: 'tcp', security: 'none', flow: 'xtls-rprx-vision' });
    const s = subscription(1);
    const config = render(
      input(
        [overWs, plain],
        [
          [overWs, [s]],
          [plain, [s]],
        ],
      ),
    );
    for (const ib of config.services.xray!.inbounds) assert.equal((ib.settings.clients as any[])[0].flow, undefined);
  });

  it('gives Shadowsocks AEAD clients their own password and method, SS-2022 a server PSK and user PSKs of the key length', () => {
    const aead = protocol({ protocol: 'shadowsocks', ss_method: 'chacha20-ietf-poly1305' });
    const serverKey = randomBytes(16).toString('base64');
    const ss2022 = protocol({ protocol: 'shadowsocks', ss_method: '2022-blake3-aes-128-gcm', ss_server_key_enc: box.seal(serverKey) });
    const ss2022b = protocol({
      protocol: 'shadowsocks',
      ss_method: '2022-blake3-aes-256-gcm',
      ss_server_key_enc: box.seal(randomBytes(32).toString('base64')),
    });
    const a = subscription(1);
    const config = render(
      input(
        [aead, ss2022, ss2022b],
        [
          [aead, [a]],
          [ss2022, [a]],
          [ss2022b, [a]],
        ],
      ),
    );
    const [x, y, z] = config.services.xray!.inbounds;
    assert.deepEqual(x!.settings, {
      network: 'tcp,udp',
      method: 'chacha20-ietf-poly1305',
      clients: [{ password: a.secret, method: 'chacha20-ietf-poly1305', email: `${a.link_uuid}@np-${aead.id}`, level: 0 }],
    });
    assert.equal(x!.streamSettings, undefined);
    assert.equal((y!.settings as any).password, serverKey);
    const userKey = (y!.settings as any).clients[0].password;
    assert.equal(Buffer.from(userKey, 'base64').length, 16);
    assert.equal(userKey, ssUserPassword(a.secret, '2022-blake3-aes-128-gcm'));
    assert.equal(Buffer.from((z!.settings as any).clients[0].password, 'base64').length, 32);
    assert.equal((y!.settings as any).clients[0].method, undefined);
  });

  it('omits ineligible subscriptions from inbounds and clientMap', () => {
    const p = protocol({ protocol: 'vmess' });
    const ok = subscription(1);
    const subs = [
      ok,
      subscription(2, { status: 'disabled' }),
      subscription(3, { status: 'limited' }),
      subscription(4, { expires_at: '2029-12-31T23:59:59.999Z' }),
      subscription(5, { traffic_limit_bytes: 100, used_up_bytes: 60, used_down_bytes: 40 }),
      subscription(6, { user_status: 'disabled' }),
      subscription(7, { traffic_limit_bytes: 100, used_up_bytes: 60, used_down_bytes: 39, expires_at: '2030-01-02T00:00:00.000Z' }),
    ];
    const config = render(input([p], [[p, subs]]));
    assert.deepEqual(
      Object.values(config.clientMap).map((c) => c.subscriptionId),
      [1, 7],
    );
    assert.deepEqual(
      (config.services.xray!.inbounds[0]!.settings.clients as any[]).map((c) => c.id),
      [ok.link_uuid, subs[6]!.link_uuid],
    );
  });

  it('renders outbounds direct first and block last, operator JSON with sorted keys, and field routing rules', () => {
    const p = protocol({ protocol: 'trojan' });
    const off = protocol({ protocol: 'trojan', enabled: 0 });
    const outbound: OutboundRow = {
      id: 1,
      node_id: 'n',
      tag: 'warp',
      protocol: 'wireguard',
      settings: JSON.stringify({ z: 1, a: { y: 2, b: 3 } }),
      stream_settings: '{}',
      traffic_bytes_up: 0,
      traffic_bytes_down: 0,
      inserted_at: NOW,
      updated_at: NOW,
    };
    const rules = [
      { outbound_tag: 'warp', domain: ['example.org'] },
      { outbound_tag: 'block', node_protocol_ids: [off.id] },
      { outbound_tag: 'direct', node_protocol_ids: [p.id, off.id], network: 'tcp,udp' },
    ];
    const config = render(input([p], [[p, [subscription(1)]]], { outbounds: [outbound], routingRules: JSON.stringify(rules) }));
    const xray = config.services.xray!;
    assert.deepEqual(
      xray.outbounds.map((o) => o.tag),
      ['direct', 'warp', 'block'],
    );
    assert.equal(JSON.stringify(xray.outbounds[1]!.settings), '{"a":{"b":3,"y":2},"z":1}');
    assert.equal(xray.outbounds[1]!.streamSettings, undefined);
    assert.deepEqual(xray.routing, {
      domainStrategy: 'IPOnDemand',
      rules: [
        BLOCK_RULE,
        { type: 'field', outboundTag: 'warp', domain: ['example.org'] },
        // The rule about the disabled inbound alone is dropped: without inboundTag it would match everything.
        { type: 'field', outboundTag: 'direct', inboundTag: [`np-${p.id}`], network: 'tcp,udp' },
      ],
    });
  });

  it('renders TLS from files or inline PEM (the key opened only for the node)', () => {
    const files = protocol({
      protocol: 'trojan',
      security: 'tls',
      tls_settings: JSON.stringify({ server_name: 'a.example', certificate_file: '/etc/c.pem', key_file: '/etc/k.pem' }),
    });
    const inline = protocol({
      protocol: 'trojan',
      security: 'tls',
      tls_settings: JSON.stringify({
        alpn: ['h2'],
        certificate: '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----',
        key_enc: box.seal('-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----'),
      }),
    });
    const config = render(
      input(
        [files, inline],
        [
          [files, []],
          [inline, []],
        ],
      ),
    );
    const [f, i] = config.services.xray!.inbounds;
    assert.deepEqual((f!.streamSettings as any).tlsSettings, {
      serverName: 'a.example',
      alpn: ['h2', 'http/1.1'],
      certificates: [{ certificateFile: '/etc/c.pem', keyFile: '/etc/k.pem' }],
    });
    assert.deepEqual((i!.streamSettings as any).tlsSettings.certificates[0].key, ['-----BEGIN PRIVATE KEY-----', 'BBB', '-----END PRIVATE KEY-----']);
  });

  it('renders services.mtproto as telemt users (secret = link UUID without hyphens) with a valid config.toml', () => {
    const mt = protocol({
      protocol: 'mtproto',
      port: 8443,
      transport: null,
      listen: '0.0.0.0',
      mtproto_settings: JSON.stringify({ tls_domain: 'www.google.com', extra_tls_domains: ['cdn.example.com'], mask: true, use_middle_proxy: false }),
    });
    const a = subscription(1);
    const b = subscription(2);
    const config = render(input([mt], [[mt, [a, b]]]));
    assert.equal(config.services.xray, undefined);
    const m = config.services.mtproto!;
    assert.equal(m.publicHost, 'node.example.com');
    assert.equal(m.tag, `np-${mt.id}`);
    assert.deepEqual(m.users, [
      { name: a.link_uuid, secret: a.link_uuid.replaceAll('-', '') },
      { name: b.link_uuid, secret: b.link_uuid.replaceAll('-', '') },
    ]);
    assert.match(m.users[0]!.secret, /^[0-9a-f]{32}$/);
    const toml = readToml(m.configToml);
    assert.deepEqual(toml.general.modes, { classic: false, secure: false, tls: true });
    assert.deepEqual(toml.general.links, { public_host: 'node.example.com', public_port: 8443 });
    assert.equal(toml.server.port, 8443);
    assert.deepEqual(toml.server.listeners, [{ ip: '0.0.0.0' }]);
    assert.equal(toml.server.api.enabled, true);
    assert.deepEqual(toml.censorship, { tls_domain: 'www.google.com', tls_domains: ['cdn.example.com'], mask: true });
    assert.deepEqual(toml.access.users, { [a.link_uuid]: a.link_uuid.replaceAll('-', ''), [b.link_uuid]: b.link_uuid.replaceAll('-', '') });
    assert.deepEqual(Object.keys(config.clientMap), [a.link_uuid, b.link_uuid]);
  });

  it('leaves out what the cores would refuse: a telemt without users, a Shadowsocks inbound without clients', () => {
    const mt = protocol({
      protocol: 'mtproto',
      transport: null,
      mtproto_settings: JSON.stringify({ tls_domain: 'www.google.com', extra_tls_domains: [], mask: true, use_middle_proxy: false }),
    });
    const ss = protocol({ protocol: 'shadowsocks', ss_method: 'aes-128-gcm' });
    const config = render(input([mt, ss], [[mt, [subscription(1, { status: 'expired' })]]]));
    assert.equal(config.services.mtproto, undefined);
    assert.deepEqual(config.services.xray!.inbounds, []);
    assert.deepEqual(config.clientMap, {});
  });

  it('is deterministic, and its hash stands for the secrets without opening them', () => {
    const ss = protocol({ protocol: 'shadowsocks', ss_method: 'aes-256-gcm' });
    const subs = [subscription(1), subscription(2)];
    const i = input([ss], [[ss, subs]]);
    const config = renderNodeConfig(i, NOW);
    const served = configText(config, reveal);
    assert.equal(configText(renderNodeConfig(i, NOW), reveal), served);
    const hashed = configText(config);
    assert.ok(containsSecrets());
    assert.ok(served.includes(subs[0]!.secret) && !hashed.includes(subs[0]!.secret), 'the hashed text holds no plaintext secret');
    assert.equal(configHash(configText(renderNodeConfig(i, NOW))), configHash(hashed));
    assert.deepEqual(JSON.parse(withRevision(7, served)), { revision: 7, ...JSON.parse(served) });
    configText(renderNodeConfig(input([protocol({ protocol: 'vmess' })], []), NOW));
    assert.equal(containsSecrets(), false);
    const redacted = JSON.parse(configText(config, redact));
    assert.deepEqual(
      redacted.services.xray.inbounds[0].settings.clients.map((c: any) => c.password),
      ['[redacted]', '[redacted]'],
    );
  });
});

describe('credentials', () => {
  it('derives the REALITY public key from the private key', () => {
    const key = newRealityPrivateKey();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.match(realityPublicKey(key)!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(realityPublicKey('too-short'), null);
    // RFC 7748 §6.1 test vector (Alice), in base64url.
    const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64url');
    assert.equal(Buffer.from(realityPublicKey(alice)!, 'base64url').toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });
});

describe('TOML writer', () => {
  it('writes what a TOML parser reads back, escapes included', () => {
    const doc = {
      title: 'quote " backslash \\ newline \n tab \t bell \u0007 unicode ✓',
      n: 42,
      yes: true,
      list: ['a', 'b"c'],
      table: { 'key with spaces': 'v', 'dotted.key': 1, nested: { deep: false } },
      items: [{ ip: '0.0.0.0' }, { ip: '::' }],
    };
    assert.deepEqual(readToml(toToml(doc)), doc);
  });
});

describe('VPN users cannot reach the node or its networks', () => {
  const p = protocol({ protocol: 'vmess' });
  const routing = (extra: Partial<RenderInput> = {}) => render(input([p], [[p, [subscription(1)]]], extra)).services.xray!.routing;

  it('blocks private, loopback, link-local, CGNAT and IPv6 local destinations before any operator rule', () => {
    const r = routing({
      routingRules: JSON.stringify([
        { outbound_tag: 'direct', node_protocol_ids: [p.id] },
        { outbound_tag: 'direct', ip: ['10.1.2.3'] },
      ]),
    });
    assert.deepEqual(r.rules[0], BLOCK_RULE, 'first rule');
    for (const cidr of [
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '127.0.0.0/8',
      '169.254.0.0/16',
      '100.64.0.0/10',
      '0.0.0.0/8',
      '::1/128',
      'fc00::/7',
      'fe80::/10',
    ]) {
      assert.ok((r.rules[0]!.ip as string[]).includes(cidr), cidr);
    }
    assert.ok(!JSON.stringify(r).includes('geoip:'), 'no geo data needed (Debian V2Ray has none)');
    // Domains are resolved when the block rule is evaluated, so a name for 127.0.0.1 meets it too.
    assert.equal(r.domainStrategy, 'IPOnDemand');
    // The operator's catch-all for its inbound comes after the block and cannot open it.
    assert.deepEqual(r.rules[1], { type: 'field', outboundTag: 'direct', inboundTag: [`np-${p.id}`] });
  });

  it('opens only the destinations the operator allowed, to direct, ahead of the block', () => {
    const allowed = ['127.0.0.1:8080', '10.20.0.0/16', '[fd00::5]:443', 'fd00::/64', '192.168.1.10:8080'];
    const r = routing({ allowedDestinations: JSON.stringify(allowed) });
    assert.deepEqual(r.rules, [
      { type: 'field', ip: ['10.20.0.0/16', 'fd00::/64'], outboundTag: 'direct' },
      { type: 'field', ip: ['fd00::5'], port: '443', outboundTag: 'direct' },
      { type: 'field', ip: ['127.0.0.1', '192.168.1.10'], port: '8080', outboundTag: 'direct' },
      BLOCK_RULE,
    ]);
  });

  it('puts the agent API rule ahead of the block and no user inbound on the API route', async () => {
    const { renderCoreConfig, API_INBOUND_TAG, API_TAG } = await import('../../../agent/proxy-core/xray-config.ts');
    const served = render(input([p], [[p, [subscription(1)]]]));
    for (const flavour of ['xray', 'v2ray'] as const) {
      const { config } = renderCoreConfig(served.services.xray as never, { flavour, apiPort: 10085 });
      const rules = (config.routing as { rules: Array<Record<string, unknown>> }).rules;
      assert.deepEqual(rules[0], { type: 'field', inboundTag: [API_INBOUND_TAG], outboundTag: API_TAG });
      assert.deepEqual(rules[1], BLOCK_RULE);
      // Only the agent's own loopback inbound leads to the API; user traffic to 127.0.0.1:10085 meets the block.
      assert.deepEqual(
        rules.filter((r) => r.outboundTag === API_TAG).map((r) => r.inboundTag),
        [[API_INBOUND_TAG]],
      );
    }
  });

  it('parses allow-list entries and says what is wrong with a bad one', () => {
    assert.deepEqual(parseDestination('127.0.0.1:8080'), { ip: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseDestination('10.0.0.0/8'), { ip: '10.0.0.0/8', port: null });
    assert.deepEqual(parseDestination('[FD00::1]:53'), { ip: 'fd00::1', port: 53 });
    assert.deepEqual(parseDestination('fe80::/10'), { ip: 'fe80::/10', port: null });
    assert.deepEqual(destinationErrors(['10.0.0.1', '10.0.0.300', '10.0.0.0/33', '10.0.0.1:0', '10.0.0.1:70000', 'localhost:80', '::1:80', 'fd00::/129']), {
      'allowed_destinations/1': ['10.0.0.300 is not an IP address'],
      'allowed_destinations/2': ['prefix /33 is too long for IPv4'],
      'allowed_destinations/3': ['port 0 is not between 1 and 65535'],
      'allowed_destinations/4': ['port 70000 is not between 1 and 65535'],
      'allowed_destinations/5': ['must be ip, ip/prefix, ip:port or ip/prefix:port (IPv6 with a port as [ip]:port)'],
      'allowed_destinations/7': ['prefix /129 is too long for IPv6'],
    });
  });
});
