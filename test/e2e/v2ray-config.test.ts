/**
 * The Xray config Core generates, loaded by a real proxy core: Debian's V2Ray 4.34 (`v2ray -test
 * -config`). The test plays the agent (specs/core-node.md §2.1, §2.7): it fetches
 * /node/config/latest over HTTP, merges the agent-side api/stats/policy blocks, and makes the two
 * adaptations V2Ray needs and Xray does not (single-user Shadowsocks, no QUIC sniffing). Protocol
 * settings stay within what V2Ray 4.34 runs: vmess, vless+ws, trojan (TLS), single-user SS.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createProtocol, createSubscription, createUser, registeredNode } from '../helpers/vpn-admin.ts';

const V2RAY = '/usr/bin/v2ray';
const skip = existsSync(V2RAY) ? false : `${V2RAY} is missing (apt-get install v2ray): the generated config cannot be loaded by a real core`;

/** What the agent adds around Core's part (§2.1): API inbound first, its routing rule first, stats, policy. */
function agentMerge(xray: any): any {
  return {
    log: { loglevel: 'warning' },
    api: { tag: 'api', services: ['HandlerService', 'StatsService'] },
    stats: {},
    policy: {
      levels: { '0': { statsUserUplink: true, statsUserDownlink: true } },
      system: { statsInboundUplink: true, statsInboundDownlink: true, statsOutboundUplink: true, statsOutboundDownlink: true },
    },
    inbounds: [{ tag: 'api', listen: '127.0.0.1', port: 10085, protocol: 'dokodemo-door', settings: { address: '127.0.0.1' } }, ...xray.inbounds],
    outbounds: xray.outbounds,
    routing: { ...xray.routing, rules: [{ type: 'field', inboundTag: ['api'], outboundTag: 'api' }, ...xray.routing.rules] },
  };
}

/** V2Ray 4.34 has no QUIC sniffing and only single-user Shadowsocks (§2.7). */
function v2rayCompat(config: any): any {
  const inbounds = config.inbounds.flatMap((ib: any) => {
    const sniffing = ib.sniffing && { ...ib.sniffing, destOverride: ib.sniffing.destOverride.filter((d: string) => d !== 'quic') };
    if (ib.protocol !== 'shadowsocks') return [{ ...ib, ...(sniffing ? { sniffing } : {}) }];
    return ib.settings.clients.map((c: any, i: number) => ({
      ...ib,
      tag: i === 0 ? ib.tag : `${ib.tag}-${i}`,
      port: ib.port + i,
      sniffing,
      settings: { network: ib.settings.network, method: c.method ?? ib.settings.method, password: c.password, email: c.email, level: c.level },
    }));
  });
  return { ...config, inbounds };
}

function v2rayTest(file: string): { ok: boolean; output: string } {
  const run = spawnSync(V2RAY, ['-test', '-config', file], { encoding: 'utf8', timeout: 30_000 });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/** A self-signed certificate for the TLS inbound, when openssl is around. */
function selfSigned(dir: string): { certificate: string; key: string } | null {
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=node.test',
        '-keyout',
        path.join(dir, 'k.pem'),
        '-out',
        path.join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { certificate: readFileSync(path.join(dir, 'c.pem'), 'utf8'), key: readFileSync(path.join(dir, 'k.pem'), 'utf8') };
  } catch {
    return null;
  }
}

for (const engine of testEngines()) {
  describe(`generated Xray config in a real V2Ray [${engine}]`, { skip }, () => {
    let server: TestServer;
    let dir: string;
    before(async () => {
      server = await startServer(engine);
      dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-v2ray-'));
    });
    after(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('loads with vmess, vless+ws, trojan+TLS, Shadowsocks, an operator outbound and routing rules', async () => {
      const { node, client } = await registeredNode(server.api);
      const cert = selfSigned(dir);
      const protocols = [
        await createProtocol(server.api, node.id, { protocol: 'vmess', port: 20001 }),
        await createProtocol(server.api, node.id, {
          protocol: 'vless',
          port: 20002,
          transport: 'ws',
          transport_settings: { path: '/vl', host: 'cdn.example.com' },
        }),
        await createProtocol(
          server.api,
          node.id,
          cert
            ? {
                protocol: 'trojan',
                port: 20003,
                security: 'tls',
                tls_settings: { server_name: 'node.test', alpn: ['http/1.1'], certificate: cert.certificate, key: cert.key },
              }
            : { protocol: 'trojan', port: 20003 },
        ),
        await createProtocol(server.api, node.id, { protocol: 'shadowsocks', port: 20004, ss_method: 'chacha20-ietf-poly1305' }),
        await createProtocol(server.api, node.id, { protocol: 'vmess', port: 20010, transport: 'ws', transport_settings: { path: '/vm' } }),
      ];
      const outbound = await server.api.post('/api/v1/vpn/node_outbounds', {
        node_id: node.id,
        tag: 'upstream',
        protocol: 'socks',
        settings: { servers: [{ address: '127.0.0.1', port: 1080 }] },
      });
      assert.equal(outbound.status, 201);
      const rules = await server.api.patch(`/api/v1/vpn/nodes/${node.id}`, {
        routing_rules: [
          { outbound_tag: 'block', protocol: ['bittorrent'] },
          { outbound_tag: 'upstream', domain: ['full:api.example.org', 'domain:example.net'], node_protocol_ids: [protocols[0]!.id] },
          { outbound_tag: 'block', ip: ['10.0.0.0/8', '192.168.0.0/16'] },
          { outbound_tag: 'direct', port: '53,443', network: 'tcp,udp' },
        ],
      });
      assert.equal(rules.status, 200, rules.text);
      const user = await createUser(server.api);
      const all = protocols.map((p) => p.id);
      await createSubscription(server.api, user.id, { node_protocol_ids: all });
      // A second user on everything but Shadowsocks, so inbounds carry several clients.
      await createSubscription(server.api, (await createUser(server.api)).id, { node_protocol_ids: all.filter((id) => id !== protocols[3]!.id) });

      const res = await client.get('/config/latest');
      assert.equal(res.status, 200);
      const xray = res.body.services.xray;
      assert.equal(xray.inbounds.length, 5);
      assert.equal(Object.keys(res.body.clientMap).length, 2);

      const file = path.join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(v2rayCompat(agentMerge(xray)), null, 2));
      const result = v2rayTest(file);
      assert.ok(result.ok, `v2ray rejected the config:\n${result.output}\n${readFileSync(file, 'utf8').slice(0, 4000)}`);
      assert.match(result.output, /Configuration OK/);
    });

    it('is a meaningful check: V2Ray refuses the same config with a broken rule', () => {
      const file = path.join(dir, 'config.json');
      const config = JSON.parse(readFileSync(file, 'utf8'));
      config.routing.rules.push({ outboundTag: 'direct', port: '80' });
      const broken = path.join(dir, 'broken.json');
      writeFileSync(broken, JSON.stringify(config));
      const result = v2rayTest(broken);
      assert.equal(result.ok, false);
      assert.match(result.output, /rule/i);
    });
  });
}
