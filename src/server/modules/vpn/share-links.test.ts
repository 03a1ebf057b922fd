import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeShareLink } from '../../../../test/helpers/vpn.ts';
import { mtprotoSecret, ssUserPassword } from './credentials.ts';
import { type LinkProtocol, shareLinks, ss2022UserKey, subscriptionBody } from './share-links.ts';

const LINK_UUID = 'b831381d-6324-4d53-ad4f-8cda48b30811';
const creds = { linkUuid: LINK_UUID, ssPassword: 'p@ss:word/+=' };

const base = (overrides: Partial<LinkProtocol>): LinkProtocol => ({
  protocol: 'vless',
  host: 'de1.vpn.example.com',
  port: 443,
  remark: 'Frankfurt · VLESS #1',
  transport: 'tcp',
  transportSettings: {},
  security: 'none',
  tlsSettings: {},
  realitySettings: {},
  flow: null,
  ssMethod: null,
  ssServerKey: null,
  mtprotoSettings: {},
  ...overrides,
});

const one = (p: LinkProtocol) => {
  const links = shareLinks(p, creds);
  assert.equal(links.length, 1);
  return decodeShareLink(links[0]!);
};

describe('share links', () => {
  it('vless over raw+REALITY with vision carries every client key', () => {
    const link = one(
      base({
        transport: 'raw',
        security: 'reality',
        flow: 'xtls-rprx-vision',
        // The stored shape (protocol-spec.ts): snake_case, sealed private key, derived public key.
        realitySettings: {
          target: 'www.example.com:443',
          server_names: ['www.example.com', 'example.com'],
          private_key_enc: 'secret-never-shown',
          short_ids: ['', '6ba85179e30d4fc2'],
          public_key: 'Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw',
          spider_x: '/probe',
        },
      }),
    );
    assert.deepEqual(link, {
      scheme: 'vless',
      credential: LINK_UUID,
      host: 'de1.vpn.example.com',
      port: 443,
      params: {
        type: 'tcp',
        security: 'reality',
        encryption: 'none',
        flow: 'xtls-rprx-vision',
        sni: 'www.example.com',
        fp: 'chrome',
        pbk: 'Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw',
        sid: '6ba85179e30d4fc2',
        spx: '/probe',
      },
      remark: 'Frankfurt · VLESS #1',
    });
    assert.ok(!shareLinks(base({ security: 'reality', realitySettings: { privateKey: 'secret-never-shown' } }), creds)[0]!.includes('secret-never-shown'));
  });

  it('vless over ws+TLS keeps path, host, sni, alpn and fingerprint, and drops vision off raw TCP', () => {
    const link = one(
      base({
        transport: 'ws',
        transportSettings: { path: '/ws?ed=2048', host: 'cdn.example.com' },
        security: 'tls',
        tlsSettings: { serverName: 'cdn.example.com', alpn: ['h2', 'http/1.1'], fingerprint: 'firefox', certificates: [{ certificateFile: '/etc/x.pem' }] },
        flow: 'xtls-rprx-vision',
      }),
    );
    assert.equal(link.scheme, 'vless');
    if (link.scheme !== 'vless') return;
    assert.deepEqual(link.params, {
      type: 'ws',
      security: 'tls',
      encryption: 'none',
      sni: 'cdn.example.com',
      fp: 'firefox',
      alpn: 'h2,http/1.1',
      path: '/ws?ed=2048',
      host: 'cdn.example.com',
    });
  });

  it('vless over grpc and xhttp, and with no security', () => {
    const grpc = one(
      base({
        transport: 'grpc',
        transportSettings: { service_name: 'tun', authority: 'a.example.com' },
        security: 'tls',
        tlsSettings: { server_name: 'a.example.com' },
      }),
    );
    assert.ok(grpc.scheme === 'vless');
    assert.deepEqual(grpc.params, {
      type: 'grpc',
      security: 'tls',
      encryption: 'none',
      sni: 'a.example.com',
      serviceName: 'tun',
      mode: 'gun',
      authority: 'a.example.com',
    });
    const xhttp = one(base({ transport: 'xhttp', transportSettings: { path: '/x', mode: 'packet-up', extra: { xPaddingBytes: '100-1000' } } }));
    assert.ok(xhttp.scheme === 'vless');
    assert.deepEqual(xhttp.params, {
      type: 'xhttp',
      security: 'none',
      encryption: 'none',
      path: '/x',
      mode: 'packet-up',
      extra: '{"xPaddingBytes":"100-1000"}',
    });
    const plain = one(base({ transport: null }));
    assert.ok(plain.scheme === 'vless');
    assert.deepEqual(plain.params, { type: 'tcp', security: 'none', encryption: 'none' });
  });

  it('trojan uses the link UUID as password and the same stream keys, without encryption or flow', () => {
    const link = one(
      base({ protocol: 'trojan', port: 8443, security: 'tls', flow: 'xtls-rprx-vision', tlsSettings: { serverName: 'de1.vpn.example.com', alpn: 'h2' } }),
    );
    assert.deepEqual(link, {
      scheme: 'trojan',
      credential: LINK_UUID,
      host: 'de1.vpn.example.com',
      port: 8443,
      params: { type: 'tcp', security: 'tls', sni: 'de1.vpn.example.com', alpn: 'h2' },
      remark: 'Frankfurt · VLESS #1',
    });
  });

  it('vmess is base64 of the v2rayN JSON with string fields', () => {
    const link = shareLinks(
      base({
        protocol: 'vmess',
        transport: 'ws',
        transportSettings: { path: '/vm', host: 'h.example.com' },
        security: 'tls',
        tlsSettings: { serverName: 'h.example.com', alpn: ['http/1.1'] },
      }),
      creds,
    )[0]!;
    assert.match(link, /^vmess:\/\/[A-Za-z0-9+/]+=*$/);
    const decoded = decodeShareLink(link);
    assert.ok(decoded.scheme === 'vmess');
    assert.deepEqual(decoded.json, {
      v: '2',
      ps: 'Frankfurt · VLESS #1',
      add: 'de1.vpn.example.com',
      port: '443',
      id: LINK_UUID,
      aid: '0',
      scy: 'auto',
      net: 'ws',
      type: 'none',
      host: 'h.example.com',
      path: '/vm',
      tls: 'tls',
      sni: 'h.example.com',
      fp: '',
      alpn: 'http/1.1',
    });
    const grpc = decodeShareLink(
      shareLinks(
        base({
          protocol: 'vmess',
          transport: 'grpc',
          transportSettings: { serviceName: 'svc', multiMode: true },
          security: 'reality',
          realitySettings: { serverNames: ['r.example.com'], publicKey: 'PBK', shortIds: ['ab'] },
        }),
        creds,
      )[0]!,
    );
    assert.ok(grpc.scheme === 'vmess');
    assert.equal(grpc.json.net, 'grpc');
    assert.equal(grpc.json.type, 'multi');
    assert.equal(grpc.json.path, 'svc');
    assert.equal(grpc.json.tls, 'reality');
    assert.equal(grpc.json.sni, 'r.example.com');
    assert.equal(grpc.json.fp, 'chrome');
    assert.equal(grpc.json.pbk, 'PBK');
    assert.equal(grpc.json.sid, 'ab');
    assert.equal(grpc.json.spx, '');
  });

  it('shadowsocks AEAD: base64url userinfo of method:password', () => {
    const link = shareLinks(base({ protocol: 'shadowsocks', ssMethod: 'chacha20-ietf-poly1305', port: 8388 }), creds)[0]!;
    const userinfo = link.slice('ss://'.length, link.indexOf('@'));
    assert.match(userinfo, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    assert.deepEqual(decodeShareLink(link), {
      scheme: 'ss',
      method: 'chacha20-ietf-poly1305',
      password: 'p@ss:word/+=',
      encoding: 'base64url',
      host: 'de1.vpn.example.com',
      port: 8388,
      remark: 'Frankfurt · VLESS #1',
    });
  });

  it('shadowsocks 2022: percent-encoded serverPSK:userPSK, never base64', () => {
    const serverKey = Buffer.alloc(32, 7).toString('base64');
    const userKey = Buffer.alloc(32, 9).toString('base64');
    const link = shareLinks(base({ protocol: 'shadowsocks', ssMethod: '2022-blake3-aes-256-gcm', ssServerKey: serverKey }), {
      linkUuid: LINK_UUID,
      ssPassword: userKey,
    })[0]!;
    assert.ok(link.startsWith('ss://2022-blake3-aes-256-gcm:'), link);
    assert.ok(link.includes('%3A') && !/[+/=]/.test(link.slice('ss://'.length, link.indexOf('@'))), 'the PSKs are percent-encoded');
    assert.deepEqual(decodeShareLink(link), {
      scheme: 'ss',
      method: '2022-blake3-aes-256-gcm',
      password: `${serverKey}:${userKey}`,
      encoding: 'percent',
      host: 'de1.vpn.example.com',
      port: 443,
      remark: 'Frankfurt · VLESS #1',
    });
  });

  it('derives an SS-2022 user key of the cipher length from a secret that is not one', () => {
    const key16 = Buffer.alloc(16, 1).toString('base64');
    assert.equal(ss2022UserKey(key16, '2022-blake3-aes-128-gcm'), key16);
    const derived = ss2022UserKey('not-a-key', '2022-blake3-aes-128-gcm');
    assert.equal(Buffer.from(derived, 'base64').length, 16);
    assert.equal(derived, createHash('sha256').update('not-a-key').digest().subarray(0, 16).toString('base64'));
    assert.equal(Buffer.from(ss2022UserKey(key16, '2022-blake3-aes-256-gcm'), 'base64').length, 32);
    const single = decodeShareLink(
      shareLinks(base({ protocol: 'shadowsocks', ssMethod: '2022-blake3-aes-128-gcm' }), { linkUuid: LINK_UUID, ssPassword: key16 })[0]!,
    );
    assert.ok(single.scheme === 'ss');
    assert.equal(single.password, key16);
    // The link's user PSK is the one the rendered inbound carries, for stored secrets of any shape.
    for (const method of ['2022-blake3-aes-128-gcm', '2022-blake3-aes-256-gcm']) {
      for (const secret of [key16, Buffer.alloc(32, 3).toString('base64'), 'free-form']) {
        const link = decodeShareLink(shareLinks(base({ protocol: 'shadowsocks', ssMethod: method }), { linkUuid: LINK_UUID, ssPassword: secret })[0]!);
        assert.ok(link.scheme === 'ss');
        assert.equal(link.password, ssUserPassword(secret, method));
      }
    }
    const aead = decodeShareLink(shareLinks(base({ protocol: 'shadowsocks', ssMethod: 'aes-128-gcm' }), { linkUuid: LINK_UUID, ssPassword: 'free-form' })[0]!);
    assert.ok(aead.scheme === 'ss');
    assert.equal(aead.password, ssUserPassword('free-form', 'aes-128-gcm'));
  });

  it('mtproto: one Fake-TLS link per domain with ee + secret + hex(domain)', () => {
    const links = shareLinks(
      base({
        protocol: 'mtproto',
        transport: null,
        port: 8444,
        mtprotoSettings: { tls_domain: 'www.google.com', extra_tls_domains: ['cdn.example.org'], mask: true },
      }),
      creds,
    );
    assert.equal(links.length, 2);
    const secret = 'b831381d63244d53ad4f8cda48b30811';
    assert.equal(mtprotoSecret(LINK_UUID), secret, 'the secret telemt is configured with');
    assert.deepEqual(links.map(decodeShareLink), [
      { scheme: 'tg', server: 'de1.vpn.example.com', port: 8444, secret: `ee${secret}${Buffer.from('www.google.com').toString('hex')}` },
      { scheme: 'tg', server: 'de1.vpn.example.com', port: 8444, secret: `ee${secret}${Buffer.from('cdn.example.org').toString('hex')}` },
    ]);
    assert.equal(links[0], `tg://proxy?server=de1.vpn.example.com&port=8444&secret=ee${secret}7777772e676f6f676c652e636f6d`);
    const secure = shareLinks(base({ protocol: 'mtproto', transport: null }), creds);
    assert.deepEqual(secure.map(decodeShareLink), [{ scheme: 'tg', server: 'de1.vpn.example.com', port: 443, secret: `dd${secret}` }]);
  });

  it('brackets IPv6 hosts in URLs and encodes remarks', () => {
    const link = one(base({ host: '2001:db8::1', remark: 'a b/c#d?e' }));
    assert.ok(link.scheme === 'vless');
    assert.equal(link.host, '2001:db8::1');
    assert.equal(link.remark, 'a b/c#d?e');
    const tg = decodeShareLink(shareLinks(base({ protocol: 'mtproto', host: '2001:db8::1' }), creds)[0]!);
    assert.ok(tg.scheme === 'tg');
    assert.equal(tg.server, '2001:db8::1');
  });

  it('an unknown protocol yields no link; the body is base64 of the lines', () => {
    assert.deepEqual(shareLinks(base({ protocol: 'hysteria' }), creds), []);
    assert.equal(Buffer.from(subscriptionBody(['a://1', 'b://2']), 'base64').toString(), 'a://1\nb://2');
    assert.equal(subscriptionBody([]), '');
  });
});
