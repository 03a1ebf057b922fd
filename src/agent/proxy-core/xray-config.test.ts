import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { HAVE_V2RAY, V2RAY_BINARY } from '../testing/test-support.ts';
import { API_INBOUND_TAG, API_TAG, planApply, renderCoreConfig, v2rayCompat, type XrayConfig } from './xray-config.ts';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';

/** What Core sends for a node with one of each kind of inbound (Xray dialect). */
function coreConfig(): XrayConfig {
  return {
    inbounds: [
      {
        tag: 'np-1',
        port: 20001,
        listen: '127.0.0.1',
        protocol: 'vless',
        settings: { decryption: 'none', clients: [{ id: U1, email: `${U1}@np-1`, flow: 'xtls-rprx-vision' }] },
        streamSettings: { network: 'raw', security: 'none' },
        sniffing: { enabled: true, destOverride: ['http', 'tls', 'quic'] },
      },
      {
        tag: 'np-2',
        port: 20002,
        listen: '127.0.0.1',
        protocol: 'vless',
        settings: { decryption: 'none', clients: [{ id: U1, email: `${U1}@np-2`, flow: 'xtls-rprx-vision' }] },
        streamSettings: {
          network: 'raw',
          security: 'reality',
          realitySettings: { target: 'example.com:443', serverNames: ['example.com'], privateKey: 'x', shortIds: [''] },
        },
      },
      {
        tag: 'np-3',
        port: 20003,
        listen: '127.0.0.1',
        protocol: 'vmess',
        settings: { clients: [{ id: U1, email: `${U1}@np-3` }] },
        streamSettings: { network: 'grpc', grpcSettings: { serviceName: 's' } },
      },
      {
        tag: 'np-4',
        port: 20004,
        listen: '127.0.0.1',
        protocol: 'trojan',
        settings: { clients: [{ password: U1, email: `${U1}@np-4` }] },
        streamSettings: { network: 'ws', wsSettings: { path: '/t' } },
      },
      {
        tag: 'np-5',
        port: 20005,
        listen: '127.0.0.1',
        protocol: 'shadowsocks',
        settings: { network: 'tcp,udp', clients: [{ method: 'aes-256-gcm', password: 'p1', email: `${U1}@np-5` }] },
      },
      {
        tag: 'np-6',
        port: 20006,
        listen: '127.0.0.1',
        protocol: 'shadowsocks',
        settings: {
          clients: [
            { method: 'aes-256-gcm', password: 'p1', email: 'a' },
            { method: 'aes-256-gcm', password: 'p2', email: 'b' },
          ],
        },
      },
      {
        tag: 'np-7',
        port: 20007,
        listen: '127.0.0.1',
        protocol: 'shadowsocks',
        settings: { method: '2022-blake3-aes-128-gcm', password: 'AAAAAAAAAAAAAAAAAAAAAA==', clients: [{ password: 'AAAAAAAAAAAAAAAAAAAAAA==', email: 'c' }] },
      },
      {
        tag: 'np-8',
        port: 20008,
        listen: '127.0.0.1',
        protocol: 'vmess',
        settings: { clients: [{ id: U2, email: `${U2}@np-8`, level: 1 }] },
        streamSettings: { network: 'xhttp' },
      },
    ],
    outbounds: [
      { tag: 'direct', protocol: 'freedom' },
      { tag: 'block', protocol: 'blackhole' },
      { tag: 'warp', protocol: 'wireguard', settings: {} },
    ],
    routing: {
      domainStrategy: 'AsIs',
      rules: [
        { outboundTag: 'block', protocol: ['bittorrent'] },
        { type: 'field', outboundTag: 'block', ip: ['geoip:private', '1.2.3.4/32'] },
        { type: 'field', outboundTag: 'block', domain: ['geosite:category-ads'] },
        { type: 'field', outboundTag: 'warp', domain: ['example.org'] },
      ],
    },
  };
}

describe('v2ray compatibility rewrite (specs/core-node.md §2.7)', () => {
  const { config, warnings } = v2rayCompat(coreConfig());
  const byTag = new Map((config.inbounds ?? []).map((i) => [i.tag as string, i]));

  it('keeps what V2Ray 4.34 runs and maps raw to tcp', () => {
    assert.deepEqual([...byTag.keys()], ['np-1', 'np-4', 'np-5']);
    assert.equal((byTag.get('np-1')!.streamSettings as any).network, 'tcp');
  });

  it('drops VLESS flow, which V2Ray would accept and then fail Vision clients with', () => {
    assert.deepEqual((byTag.get('np-1')!.settings as any).clients, [{ id: U1, email: `${U1}@np-1` }]);
  });

  it('skips REALITY instead of letting V2Ray run it without security, and grpc/xhttp it cannot load', () => {
    assert.ok(
      warnings.some((w) => /np-2 skipped.*reality/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(warnings.some((w) => /np-3 skipped.*grpc/.test(w)));
    assert.ok(warnings.some((w) => /np-8 skipped.*xhttp/.test(w)));
  });

  it('turns a one-client shadowsocks inbound into V2Ray single-user settings and skips multi-user and SS-2022', () => {
    assert.deepEqual(byTag.get('np-5')!.settings, { network: 'tcp,udp', method: 'aes-256-gcm', password: 'p1', email: `${U1}@np-5` });
    assert.ok(warnings.some((w) => /np-6 skipped.*one user.*2/.test(w)));
    assert.ok(warnings.some((w) => /np-7 skipped.*2022/.test(w)));
  });

  it('drops sniffing protocols V2Ray refuses (quic)', () => {
    assert.deepEqual((byTag.get('np-1')!.sniffing as any).destOverride, ['http', 'tls']);
  });

  it('types every rule, expands geoip:private, drops unloadable geo rules and rules to skipped outbounds', () => {
    const rules = (config.routing as any).rules as any[];
    assert.ok(rules.every((r) => r.type === 'field'));
    assert.equal(rules.length, 2);
    assert.ok(rules[1].ip.includes('10.0.0.0/8') && rules[1].ip.includes('1.2.3.4/32') && !rules[1].ip.includes('geoip:private'));
    assert.deepEqual(
      (config.outbounds ?? []).map((o) => o.tag),
      ['direct', 'block'],
    );
  });

  it('leaves its input untouched', () => {
    const input = coreConfig();
    const copy = structuredClone(input);
    v2rayCompat(input);
    assert.deepEqual(input, copy);
  });

  it('produces a config the real v2ray accepts', { skip: !HAVE_V2RAY && `${V2RAY_BINARY} missing` }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'np-compat-'));
    try {
      const file = path.join(dir, 'c.json');
      writeFileSync(file, JSON.stringify(renderCoreConfig(coreConfig(), { flavour: 'v2ray', apiPort: 20099 }).config));
      const r = spawnSync(V2RAY_BINARY, ['-test', '-config', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      // The unrewritten config is what V2Ray would refuse.
      writeFileSync(file, JSON.stringify(coreConfig()));
      assert.notEqual(spawnSync(V2RAY_BINARY, ['-test', '-config', file]).status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rendered core config (§2.1)', () => {
  const { config } = renderCoreConfig(coreConfig(), { flavour: 'xray', apiPort: 12345 });

  it('puts the API inbound first and the API rule first', () => {
    assert.deepEqual(config.inbounds![0], {
      tag: API_INBOUND_TAG,
      listen: '127.0.0.1',
      port: 12345,
      protocol: 'dokodemo-door',
      settings: { address: '127.0.0.1' },
    });
    assert.deepEqual((config.routing as any).rules[0], { type: 'field', inboundTag: [API_INBOUND_TAG], outboundTag: API_TAG });
    assert.equal((config.routing as any).domainStrategy, 'AsIs');
  });

  it('switches on stats for every client level and for inbounds and outbounds', () => {
    assert.deepEqual(config.stats, {});
    assert.deepEqual(config.api, { tag: API_TAG, services: ['HandlerService', 'StatsService'] });
    const policy = config.policy as any;
    assert.deepEqual(policy.levels['0'], { statsUserUplink: true, statsUserDownlink: true });
    assert.deepEqual(policy.levels['1'], { statsUserUplink: true, statsUserDownlink: true });
    assert.equal(policy.system.statsOutboundDownlink, true);
  });

  it('replaces an API inbound or rule Core may have sent, and keeps Core policy settings', () => {
    const given = coreConfig();
    given.inbounds!.push({ tag: API_INBOUND_TAG, port: 1, protocol: 'dokodemo-door' });
    (given.routing as any).rules.unshift({ type: 'field', inboundTag: ['x'], outboundTag: API_TAG });
    given.policy = { levels: { '0': { handshake: 4 } } };
    const out = renderCoreConfig(given, { flavour: 'xray', apiPort: 1 }).config;
    assert.equal(out.inbounds!.filter((i) => i.tag === API_INBOUND_TAG).length, 1);
    assert.equal((out.routing as any).rules.filter((r: any) => r.outboundTag === API_TAG).length, 1);
    assert.deepEqual((out.policy as any).levels['0'], { handshake: 4, statsUserUplink: true, statsUserDownlink: true });
  });
});

describe('apply plan', () => {
  const render = (c: XrayConfig) => renderCoreConfig(c, { flavour: 'v2ray', apiPort: 1 }).config;
  const base = (): XrayConfig => ({
    inbounds: [
      { tag: 'np-1', port: 1, protocol: 'vmess', settings: { clients: [{ id: U1, email: 'a@np-1' }] } },
      { tag: 'np-2', port: 2, protocol: 'trojan', settings: { clients: [{ password: 'x', email: 'a@np-2' }] } },
      { tag: 'np-3', port: 3, protocol: 'shadowsocks', settings: { method: 'aes-128-gcm', password: 'p', email: 'a@np-3' } },
    ],
    outbounds: [{ tag: 'direct', protocol: 'freedom' }],
  });

  it('is nothing for an identical config', () => {
    assert.deepEqual(planApply(render(base()), render(base())), { kind: 'none' });
  });

  it('adds and removes users at runtime when only clients changed', () => {
    const next = base();
    (next.inbounds![0]!.settings as any).clients = [{ id: U2, email: 'b@np-1' }];
    (next.inbounds![1]!.settings as any).clients.push({ password: 'y', email: 'b@np-2' });
    const plan = planApply(render(base()), render(next));
    assert.equal(plan.kind, 'users');
    assert.deepEqual(plan.kind === 'users' && plan.changes, [
      { tag: 'np-1', protocol: 'vmess', remove: ['a@np-1'], add: [{ email: 'b@np-1', level: 0, id: U2, flow: undefined, password: undefined }] },
      { tag: 'np-2', protocol: 'trojan', remove: [], add: [{ email: 'b@np-2', level: 0, id: undefined, flow: undefined, password: 'y' }] },
    ]);
  });

  it('replaces a user whose credential changed under the same email', () => {
    const next = base();
    (next.inbounds![0]!.settings as any).clients[0].id = U2;
    const plan = planApply(render(base()), render(next));
    assert.ok(plan.kind === 'users' && plan.changes[0]!.remove[0] === 'a@np-1' && plan.changes[0]!.add[0]!.id === U2);
  });

  it('restarts for anything beyond users: a new inbound, a changed port, a routing change, shadowsocks users', () => {
    const added = base();
    added.inbounds!.push({ tag: 'np-9', port: 9, protocol: 'vmess', settings: { clients: [] } });
    assert.equal(planApply(render(base()), render(added)).kind, 'restart');
    const port = base();
    port.inbounds![0]!.port = 7;
    assert.equal(planApply(render(base()), render(port)).kind, 'restart');
    const routing = base();
    routing.routing = { rules: [{ type: 'field', outboundTag: 'direct', port: '443' }] };
    assert.equal(planApply(render(base()), render(routing)).kind, 'restart');
    const ss = base();
    (ss.inbounds![2]!.settings as any).password = 'other';
    assert.equal(planApply(render(base()), render(ss)).kind, 'restart');
  });

  it('restarts when a changed inbound has a client without an email (it could not be removed by email)', () => {
    const cur = base();
    (cur.inbounds![0]!.settings as any).clients.push({ id: U2 });
    const next = structuredClone(cur);
    (next.inbounds![0]!.settings as any).clients.shift();
    assert.equal(planApply(render(cur), render(next)).kind, 'restart');
  });
});
