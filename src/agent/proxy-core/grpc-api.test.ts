import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type CoreApiError, coreNames, HandlerClient, StatsClient } from './grpc-api.ts';
import {
  type ByteServer,
  clientConfig,
  freePort,
  SKIP_NO_V2RAY,
  socksHttp,
  startByteServer,
  startV2ray,
  trojanOutbound,
  type V2rayProcess,
  vlessOutbound,
  vmessOutbound,
} from '../testing/test-support.ts';
import { renderCoreConfig } from './xray-config.ts';

describe('core gRPC names', () => {
  it('follow the flavour (pasarguard-node spec §6.3, §7)', () => {
    assert.equal(coreNames('v2ray').queryStats, '/v2ray.core.app.stats.command.StatsService/QueryStats');
    assert.equal(coreNames('v2ray').alterInbound, '/v2ray.core.app.proxyman.command.HandlerService/AlterInbound');
    assert.equal(coreNames('v2ray').vmessAccount, 'v2ray.core.proxy.vmess.Account');
    assert.equal(coreNames('xray').queryStats, '/xray.app.stats.command.StatsService/QueryStats');
    assert.equal(coreNames('xray').addUserOperation, 'xray.app.proxyman.command.AddUserOperation');
    assert.equal(coreNames('xray').trojanAccount, 'xray.proxy.trojan.Account');
  });
});

describe('core gRPC API against a real v2ray', { skip: SKIP_NO_V2RAY }, () => {
  const vmessUser = randomUUID();
  const vlessUser = randomUUID();
  const trojanPassword = `pw-${randomUUID()}`;
  const procs: V2rayProcess[] = [];
  let bytes: ByteServer;
  let stats: StatsClient;
  let handler: HandlerClient;
  const port: Record<string, number> = {};

  before(async () => {
    for (const name of ['api', 'vmess', 'vless', 'trojan', 'ss', 'sVmess', 'sVless', 'sTrojan']) port[name] = await freePort();
    const { config } = renderCoreConfig(
      {
        inbounds: [
          { tag: 'np-1', listen: '127.0.0.1', port: port.vmess, protocol: 'vmess', settings: { clients: [{ id: vmessUser, email: `${vmessUser}@np-1` }] } },
          { tag: 'np-2', listen: '127.0.0.1', port: port.vless, protocol: 'vless', settings: { decryption: 'none', clients: [] } },
          { tag: 'np-3', listen: '127.0.0.1', port: port.trojan, protocol: 'trojan', settings: { clients: [] } },
          { tag: 'np-4', listen: '127.0.0.1', port: port.ss, protocol: 'shadowsocks', settings: { method: 'aes-128-gcm', password: 'p', email: 'ss@np-4' } },
        ],
        outbounds: [{ tag: 'direct', protocol: 'freedom' }],
      },
      { flavour: 'v2ray', apiPort: port.api! },
    );
    procs.push(await startV2ray(config, [port.api!, port.vmess!]));
    procs.push(await startV2ray(clientConfig(port.sVmess!, vmessOutbound(port.vmess!, vmessUser)), [port.sVmess!]));
    procs.push(await startV2ray(clientConfig(port.sVless!, vlessOutbound(port.vless!, vlessUser)), [port.sVless!]));
    procs.push(await startV2ray(clientConfig(port.sTrojan!, trojanOutbound(port.trojan!, trojanPassword)), [port.sTrojan!]));
    bytes = await startByteServer();
    stats = new StatsClient({ address: `127.0.0.1:${port.api}`, flavour: 'v2ray' });
    handler = new HandlerClient({ address: `127.0.0.1:${port.api}`, flavour: 'v2ray' });
  });
  after(async () => {
    stats?.close();
    handler?.close();
    await Promise.all(procs.map((p) => p.stop()));
    await bytes?.close();
  });

  const connects = (socksPort: number) =>
    socksHttp(socksPort, bytes.port, 'GET', '/bytes/100', undefined, 3_000).then(
      (r) => r.status === 200,
      () => false,
    );

  it('answers GetSysStats', async () => {
    const sys = await stats.getSysStats();
    assert.ok(sys.NumGoroutine > 0 && sys.Alloc > 0);
  });

  it('QueryStats counts exactly the bytes the client exchanged through the tunnel, and reset zeroes them', async () => {
    await stats.queryStats('', true);
    const r = await socksHttp(port.sVmess!, bytes.port, 'GET', '/bytes/300000');
    assert.equal(r.body.length, 300_000);
    const counters = new Map((await stats.queryStats('', true)).map((s) => [s.name, s.value]));
    const email = `${vmessUser}@np-1`;
    // User counters carry the proxied payload only (no VMess framing): what the client sent and got.
    assert.equal(counters.get(`user>>>${email}>>>traffic>>>uplink`), r.sent);
    assert.equal(counters.get(`user>>>${email}>>>traffic>>>downlink`), r.received);
    assert.equal(counters.get('outbound>>>direct>>>traffic>>>downlink'), r.received);
    const again = await stats.queryStats(`user>>>${email}`, true);
    assert.ok(
      again.every((s) => s.value === 0),
      JSON.stringify(again),
    );
  });

  it('GetStats of an unknown counter is a not-found', async () => {
    await assert.rejects(stats.getStats('user>>>nobody>>>traffic>>>uplink'), (e: CoreApiError) => e.notFound);
  });

  it('AlterInbound adds a VLESS user who can then connect, and removes one who then cannot', async () => {
    assert.equal(await connects(port.sVless!), false);
    await handler.addUser('np-2', 'vless', { email: `${vlessUser}@np-2`, id: vlessUser });
    assert.equal(await connects(port.sVless!), true);
    await assert.rejects(handler.addUser('np-2', 'vless', { email: `${vlessUser}@np-2`, id: vlessUser }), (e: CoreApiError) => e.alreadyExists);
    await handler.removeUser('np-2', `${vlessUser}@np-2`);
    assert.equal(await connects(port.sVless!), false);
    await assert.rejects(handler.removeUser('np-2', `${vlessUser}@np-2`), (e: CoreApiError) => e.notFound);
  });

  it('AlterInbound adds and removes Trojan users', async () => {
    assert.equal(await connects(port.sTrojan!), false);
    await handler.addUser('np-3', 'trojan', { email: 't@np-3', password: trojanPassword });
    assert.equal(await connects(port.sTrojan!), true);
    await handler.removeUser('np-3', 't@np-3');
    assert.equal(await connects(port.sTrojan!), false);
  });

  it('AlterInbound removes a VMess user from the config and adds it back', async () => {
    assert.equal(await connects(port.sVmess!), true);
    await handler.removeUser('np-1', `${vmessUser}@np-1`);
    assert.equal(await connects(port.sVmess!), false);
    await handler.addUser('np-1', 'vmess', { email: `${vmessUser}@np-1`, id: vmessUser });
    assert.equal(await connects(port.sVmess!), true);
  });

  it('reports what it cannot do: shadowsocks has no runtime users, unknown tags fail', async () => {
    await assert.rejects(handler.removeUser('np-4', 'ss@np-4'), (e: CoreApiError) => e.unsupported);
    await assert.rejects(handler.addUser('np-4', 'shadowsocks', { email: 'x', password: 'y' }), (e: CoreApiError) => e.unsupported);
    await assert.rejects(handler.removeUser('nope', 'x'), /handler not found: nope/);
  });

  it('is unreachable, not hanging, when nothing listens', async () => {
    const dead = new StatsClient({ address: `127.0.0.1:${await freePort()}`, flavour: 'v2ray', timeoutMs: 1_000 });
    try {
      await assert.rejects(dead.getSysStats(), (e: CoreApiError) => e.unreachable);
    } finally {
      dead.close();
    }
  });
});
