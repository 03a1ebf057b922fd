/**
 * The VPN loop with real processes and real traffic: the server, `nodeplane agent` in its Core
 * role, Debian's v2ray as the node core, and a second v2ray as the client (SOCKS inbound → VMess
 * outbound to the node) carrying curl downloads from a local HTTP server. The bytes the control
 * plane records for the subscription match the bytes transferred; killing the core is repaired and
 * reported; a subscription pushed over its limit is cut off.
 *
 * Overhead: usage counts the proxied payload (HTTP response headers included, about 150 bytes per
 * request), not VMess framing on the wire.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createNode, createProtocol, createSubscription, createUser } from '../helpers/vpn-admin.ts';
import { type AgentProcess, freePort, until } from '../helpers/processes.ts';
import { coreProcess, CURL, missingTools, startCoreAgent, startVmessClient, stopCoreAgent } from '../helpers/core-node-process.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const missing = missingTools();
const PAYLOAD = 300_000;

/** Downloads through the client core; resolves with the body size, or null when the proxy refuses. */
async function download(socksPort: number, url: string): Promise<number | null> {
  try {
    const { stdout } = await promisify(execFile)(CURL, [
      '-s',
      '--max-time',
      '10',
      '--socks5-hostname',
      `127.0.0.1:${socksPort}`,
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}',
      url,
    ]);
    const size = Number(stdout.trim());
    return size > 0 ? size : null;
  } catch {
    return null;
  }
}

for (const engine of testEngines()) {
  describe(`VPN traffic end to end, real v2ray [${engine}]`, { skip: missing.length ? `missing ${missing.join(', ')}` : false }, () => {
    let server: TestServer;
    let agent: AgentProcess;
    let client: ChildProcess;
    let web: http.Server;
    let webUrl = '';
    let socksPort = 0;
    let nodeId = '';
    let subscriptionId = 0;
    const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-vpn-e2e-'));

    const subscription = async () => (await server.api.get(`/api/v1/vpn/subscriptions/${subscriptionId}`)).body.data;
    const node = async () => (await server.api.get(`/api/v1/vpn/nodes/${nodeId}`)).body.data;

    before(async () => {
      server = await startServer(engine, { CORE_NODE_OFFLINE_AFTER_MS: '60000' });
      web = http.createServer((_req, res) => res.end(Buffer.alloc(PAYLOAD, 120)));
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      webUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}/`;

      const vmessPort = await freePort();
      socksPort = await freePort();
      const core = await createNode(server.api, { host: '127.0.0.1' });
      nodeId = core.id;
      const protocol = await createProtocol(server.api, nodeId, { protocol: 'vmess', port: vmessPort, transport: 'tcp', security: 'none' });
      const user = await createUser(server.api);
      const sub = await createSubscription(server.api, user.id, { traffic_limit_bytes: 2 * PAYLOAD + PAYLOAD / 2, node_protocol_ids: [protocol.id] });
      subscriptionId = sub.id;

      agent = startCoreAgent(server.url, core.registration_code, {
        NODEPLANE_CORE_FLAVOUR: 'v2ray',
        NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS: '300',
        NODEPLANE_CORE_STATS_INTERVAL_MS: '300',
        NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS: '500',
      });

      client = startVmessClient(dir, { socksPort, vmessPort, id: sub.link_uuid });
      await until(async () => (await node()).sync_status === 'synced', `the node applies its config\n${agent.output}`, 60_000);
    });

    after(async () => {
      client?.kill('SIGKILL');
      await stopCoreAgent(agent);
      web?.close();
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('records the bytes a client moved through the node for its subscription', async () => {
      const got = await until(async () => download(socksPort, webUrl), 'a download through the node', 30_000);
      assert.equal(got, PAYLOAD);
      const recorded = await until(
        async () => {
          const s = await subscription();
          return s.used_down_bytes >= PAYLOAD && s;
        },
        `usage reaches the control plane\n${agent.output}`,
        30_000,
      );
      assert.ok(recorded.used_down_bytes - PAYLOAD < 1000, `recorded ${recorded.used_down_bytes} down for ${PAYLOAD} payload bytes`);
      assert.ok(recorded.used_up_bytes > 0 && recorded.used_up_bytes < 1000, `recorded ${recorded.used_up_bytes} up for one request`);
      const usage = (await server.api.get(`/api/v1/vpn/usage?subscription_id=${subscriptionId}`)).body;
      const perMinute = usage.data.reduce((sum: number, row: any) => sum + row.bytes_down, 0);
      assert.equal(perMinute, recorded.used_down_bytes, 'per-minute rows add up to the counter');
    });

    it('restarts a killed core and reports it', async () => {
      const { pid } = coreProcess(agent)!;
      process.kill(pid, 'SIGKILL');
      await until(async () => coreProcess(agent)?.pid !== pid, `the agent restarts the core\n${agent.output}`, 30_000);
      const events = await server.ctx.database.db.selectFrom('events').select('type').where('type', '=', 'core.node.error').execute();
      assert.ok(events.length >= 1, 'the crash was reported to the control plane');
      await until(async () => (await node()).sync_status === 'synced', 'synced again after the restart', 30_000);
      assert.equal(await until(async () => download(socksPort, webUrl), 'traffic flows again', 30_000), PAYLOAD);
    });

    it('cuts off a subscription pushed over its limit: its next connection fails', async () => {
      await until(async () => (await subscription()).used_down_bytes >= 2 * PAYLOAD, 'the second download is counted', 30_000);
      assert.equal(await download(socksPort, webUrl), PAYLOAD, 'still under the limit');
      const limited = await until(
        async () => {
          const s = await subscription();
          return s.status === 'limited' && s;
        },
        `the subscription crosses its limit\n${agent.output}`,
        30_000,
      );
      assert.ok(limited.used_down_bytes + limited.used_up_bytes >= limited.traffic_limit_bytes);
      await until(async () => (await node()).sync_status === 'synced' && (await download(socksPort, webUrl)) === null, 'the node drops the user', 30_000);
      assert.equal(await download(socksPort, webUrl), null, 'the next connection fails');
    });
  });
}

/**
 * A change made through the Admin API reaches a real node long before its next heartbeat (the agent
 * long-polls config/latest), and a revoke really locks the old credential out while the link the
 * API hands back works. The heartbeat is set to two minutes so only the long-poll can explain a
 * quick apply; the flavour is not given, so the agent reads it from `v2ray -version`.
 */
for (const engine of testEngines()) {
  describe(`config changes reach a real node within seconds; revoke [${engine}]`, { skip: missing.length ? `missing ${missing.join(', ')}` : false }, () => {
    const HEARTBEAT_MS = 120_000;
    let server: TestServer;
    let agent: AgentProcess;
    const clients: ChildProcess[] = [];
    let web: http.Server;
    let webUrl = '';
    let vmessPort = 0;
    let nodeId = '';
    const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-vpn-e2e-'));
    const node = async () => (await server.api.get(`/api/v1/vpn/nodes/${nodeId}`)).body.data;

    /** A v2ray client: SOCKS on a free port → VMess to the node with this id. */
    async function clientFor(id: string): Promise<number> {
      const socksPort = await freePort();
      clients.push(startVmessClient(dir, { socksPort, vmessPort, id }));
      return socksPort;
    }

    before(async () => {
      server = await startServer(engine, { CORE_NODE_OFFLINE_AFTER_MS: '600000' });
      web = http.createServer((_req, res) => res.end(Buffer.alloc(PAYLOAD, 120)));
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      webUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}/`;
      vmessPort = await freePort();
      const core = await createNode(server.api, { host: '127.0.0.1' });
      nodeId = core.id;
      await createProtocol(server.api, nodeId, { protocol: 'vmess', port: vmessPort, transport: 'tcp', security: 'none' });
      agent = startCoreAgent(server.url, core.registration_code, { NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) });
      await until(async () => (await node()).sync_status === 'synced', `the node applies its first config\n${agent.output}`, 60_000);
    });

    after(async () => {
      for (const c of clients) c.kill('SIGKILL');
      await stopCoreAgent(agent);
      web?.close();
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Makes a change, then waits for the node to report the revision it caused as applied. */
    async function timedChange(what: string, change: () => Promise<void>): Promise<number> {
      const before = (await node()).revision;
      const started = performance.now();
      await change();
      await until(
        async () => {
          const n = await node();
          return n.revision > before && n.applied_revision === n.revision && n.sync_status === 'synced';
        },
        `${what} applied\n${agent.output}`,
        60_000,
      );
      const ms = performance.now() - started;
      console.log(`[${engine}] ${what}: admin API change → applied on the node in ${Math.round(ms)} ms (heartbeat every ${HEARTBEAT_MS / 1000} s)`);
      assert.ok(ms < HEARTBEAT_MS / 2, `${what} took ${Math.round(ms)} ms: the heartbeat, not the long-poll, carried it`);
      return ms;
    }

    it('serves a new subscription within seconds, and after a revoke only the link the API hands back', async () => {
      const user = await createUser(server.api);
      let sub!: { id: number; link_uuid: string };
      await timedChange('new subscription', async () => {
        sub = await createSubscription(server.api, user.id, {
          node_protocol_ids: [(await server.api.get(`/api/v1/vpn/node_protocols?node_id=${nodeId}`)).body.data[0].id],
        });
      });
      const oldSocks = await clientFor(sub.link_uuid);
      assert.equal(await until(async () => download(oldSocks, webUrl), 'traffic with the first link', 30_000), PAYLOAD);

      let fresh = '';
      await timedChange('revoke', async () => {
        const res = await server.api.post(`/api/v1/vpn/subscriptions/${sub.id}/revoke`);
        assert.equal(res.status, 200);
        fresh = res.body.data.link_uuid;
      });
      const doc = await fetch(`${server.url}/sub/${fresh}`);
      assert.equal(doc.status, 200, 'the link the API hands back serves a document');
      const [link] = Buffer.from(await doc.text(), 'base64')
        .toString('utf8')
        .split('\n');
      const vmess = JSON.parse(Buffer.from(link!.slice('vmess://'.length), 'base64').toString('utf8'));
      assert.equal(vmess.id, fresh, 'with the new credential');
      assert.equal((await fetch(`${server.url}/sub/${sub.link_uuid}`)).status, 404, 'the old link is gone');

      const newSocks = await clientFor(vmess.id);
      assert.equal(await until(async () => download(newSocks, webUrl), 'traffic with the new credential', 30_000), PAYLOAD);
      assert.equal(await download(oldSocks, webUrl), null, 'the node refuses the old credential');
      assert.match(agent.output, /core flavour detected/);
    });

    it('is not synced while V2Ray drops an inbound (Shadowsocks with two users), names it, and /sub leaves it out', async () => {
      const ssPort = await freePort();
      const vmessId = (await server.api.get(`/api/v1/vpn/node_protocols?node_id=${nodeId}&protocol=vmess`)).body.data[0].id;
      const ss = await createProtocol(server.api, nodeId, { protocol: 'shadowsocks', port: ssPort, ss_method: 'aes-256-gcm' });
      const subs = [];
      for (let i = 0; i < 2; i++) subs.push(await createSubscription(server.api, (await createUser(server.api)).id, { node_protocol_ids: [vmessId, ss.id] }));
      const failed = await until(
        async () => {
          const n = await node();
          // Reported as an error rather than applied: applied_revision stays behind.
          return n.sync_status === 'failed' && n.last_error?.code === 'CORE_INBOUNDS_NOT_SERVED' && n;
        },
        `the node reports the dropped inbound\n${agent.output}`,
        60_000,
      );
      assert.notEqual(failed.status, 'online');
      assert.equal(failed.last_error.code, 'CORE_INBOUNDS_NOT_SERVED');
      assert.match(failed.last_error.message, new RegExp(`${ss.tag} \\(.*shadowsocks serves one user`));
      const schemes = async (linkUuid: string) =>
        Buffer.from(await (await fetch(`${server.url}/sub/${linkUuid}`)).text(), 'base64')
          .toString('utf8')
          .split('\n')
          .map((l) => l.slice(0, l.indexOf('://')));
      assert.deepEqual(await schemes(subs[0]!.link_uuid), ['vmess'], 'no ss:// link while the node cannot serve it');

      // One user left on the inbound: V2Ray serves it, the node is synced and the link is back.
      const gone = await server.api.delete(`/api/v1/vpn/subscriptions/${subs[1]!.id}/protocols/${ss.id}`);
      assert.equal(gone.status, 204);
      await until(
        async () => {
          const n = await node();
          return n.sync_status === 'synced' && n.applied_revision === n.revision && n.last_error === null;
        },
        `synced once the inbound is served\n${agent.output}`,
        60_000,
      );
      assert.deepEqual((await schemes(subs[0]!.link_uuid)).sort(), ['ss', 'vmess']);
    });
  });
}
