/**
 * What a VPN user can reach through a node, with real processes: the server, `nodeplane agent` in
 * its Core role, Debian's v2ray as the node core and a second v2ray as the client (SOCKS inbound →
 * VMess to the node). Through the proxy the user cannot reach the node's loopback (the core's own
 * gRPC API, a local HTTP server, by address or as `localhost`) or a private address, while the one
 * destination the operator opened still carries traffic. There is no internet here: the opened
 * local server stands in for it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createNode, createProtocol, createSubscription, createUser } from '../helpers/vpn-admin.ts';
import { type AgentProcess, freePort, until } from '../helpers/processes.ts';
import { coreProcess, CURL, missingTools, startCoreAgent, startVmessClient, stopCoreAgent } from '../helpers/core-node-process.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const missing = missingTools();
const BODY = 'reached';

/** A private (not loopback) address of this machine, to prove the LAN is blocked too; null if none. */
function privateAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4' && /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)/.test(a.address)) return a.address;
      if (a.family === 'IPv6' && /^f[cd]/i.test(a.address)) return a.address;
    }
  }
  return null;
}

/**
 * One curl request, directly or through the client's SOCKS port (the name resolved by the proxy, as
 * apps do); the HTTP status, or null when no answer came back.
 */
async function probe(url: string, options: { socksPort?: number; grpc?: boolean } = {}): Promise<number | null> {
  const args = ['-s', '--max-time', '8', '-o', '/dev/null', '-w', '%{http_code}'];
  if (options.socksPort) args.push('--socks5-hostname', `127.0.0.1:${options.socksPort}`);
  // The core's API is gRPC: HTTP/2 without TLS, a POST with the gRPC content type.
  if (options.grpc) args.push('--http2-prior-knowledge', '-X', 'POST', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--data-binary', '');
  try {
    const { stdout } = await promisify(execFile)(CURL, [...args, url]);
    const code = Number(stdout.trim());
    return code > 0 ? code : null;
  } catch (error) {
    const code = Number(String((error as { stdout?: string }).stdout ?? '').trim());
    return code > 0 ? code : null;
  }
}

const listen = async (server: http.Server, host: string) => {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as { port: number }).port;
};

for (const engine of testEngines()) {
  describe(`VPN routing safety end to end, real v2ray [${engine}]`, { skip: missing.length ? `missing ${missing.join(', ')}` : false }, () => {
    let server: TestServer;
    let agent: AgentProcess;
    let client: ChildProcess;
    const webs: http.Server[] = [];
    let openedPort = 0;
    let closedPort = 0;
    let socksPort = 0;
    let nodeId = '';
    const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-vpn-routing-'));

    const web = () => {
      const s = http.createServer((_req, res) => res.end(BODY));
      webs.push(s);
      return s;
    };

    before(async () => {
      server = await startServer(engine, { CORE_NODE_OFFLINE_AFTER_MS: '60000' });
      openedPort = await listen(web(), '127.0.0.1');
      closedPort = await listen(web(), '127.0.0.1');

      const vmessPort = await freePort();
      socksPort = await freePort();
      // Only the one local server is opened; the rest of loopback and every private range stay blocked.
      const core = await createNode(server.api, { host: '127.0.0.1', allowed_destinations: [`127.0.0.1:${openedPort}`] });
      nodeId = core.id;
      const protocol = await createProtocol(server.api, nodeId, { protocol: 'vmess', port: vmessPort, transport: 'tcp', security: 'none' });
      const user = await createUser(server.api);
      const sub = await createSubscription(server.api, user.id, { node_protocol_ids: [protocol.id] });

      agent = startCoreAgent(server.url, core.registration_code, {
        NODEPLANE_CORE_FLAVOUR: 'v2ray',
        NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS: '300',
        NODEPLANE_CORE_STATS_INTERVAL_MS: '300',
        NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS: '500',
      });

      client = startVmessClient(dir, { socksPort, vmessPort, id: sub.link_uuid });
      await until(
        async () => (await server.api.get(`/api/v1/vpn/nodes/${nodeId}`)).body.data.sync_status === 'synced',
        `the node applies its config\n${agent.output}`,
        60_000,
      );
    });

    after(async () => {
      client?.kill('SIGKILL');
      await stopCoreAgent(agent);
      for (const s of webs) s.close();
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('carries traffic to the destination the operator opened', async () => {
      assert.equal(
        await until(async () => probe(`http://127.0.0.1:${openedPort}/`, { socksPort }), `a request through the node\n${agent.output}`, 30_000),
        200,
      );
    });

    it("cannot reach the core's gRPC API on the node's loopback", async () => {
      const { apiPort } = coreProcess(agent)!;
      const api = `http://127.0.0.1:${apiPort}/v2ray.core.app.stats.command.StatsService/QueryStats`;
      assert.equal(await probe(api, { grpc: true }), 200, 'the API answers gRPC on the node itself');
      assert.equal(await probe(`http://127.0.0.1:${openedPort}/`, { socksPort }), 200, 'the proxy works');
      assert.equal(await probe(api, { socksPort, grpc: true }), null, 'through the proxy the API is unreachable');
    });

    it('cannot reach other loopback services, by address or by name', async () => {
      assert.equal(await probe(`http://127.0.0.1:${closedPort}/`), 200, 'the server answers on the node itself');
      assert.equal(await probe(`http://127.0.0.1:${closedPort}/`, { socksPort }), null);
      assert.equal(await probe(`http://localhost:${closedPort}/`, { socksPort }), null, 'a name the proxy resolves to loopback');
      assert.equal(await probe(`http://127.0.0.2:${closedPort}/`, { socksPort }), null, 'anywhere in 127/8');
    });

    it('cannot reach a private address of the node', async (t) => {
      const address = privateAddress();
      if (!address) {
        t.skip('this machine has no private (RFC 1918, CGNAT or ULA) address');
        return;
      }
      const port = await listen(web(), address);
      const url = address.includes(':') ? `http://[${address}]:${port}/` : `http://${address}:${port}/`;
      assert.equal(await probe(url), 200, `the server answers on ${address} directly`);
      assert.equal(await probe(url, { socksPort }), null, `through the proxy ${address} is unreachable`);
      assert.equal(await probe(`http://127.0.0.1:${openedPort}/`, { socksPort }), 200, 'while the opened destination still flows');
    });
  });
}
