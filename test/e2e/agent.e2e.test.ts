/**
 * The real thing: `nodeplane serve` and `nodeplane agent` as separate processes. An enrollment key
 * made through the Admin API enrolls an agent; the node shows up healthy with its version, ports and
 * host metrics read from this machine; it goes unreachable when the agent stops and comes back when
 * it restarts; a restarted server is reconnected to by itself; bad keys and full clusters are refused.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { testEngines } from '../helpers/server.ts';
import { AgentProcess, ServerProcess, until, waitForExit } from '../helpers/processes.ts';

const SERVER_ENV = { AGENT_PING_INTERVAL_MS: '200', NODE_UNREACHABLE_AFTER_MS: '1500', NODE_SWEEP_INTERVAL_MS: '200' };
const agentEnv = (server: ServerProcess, overrides: Record<string, string> = {}) => ({
  NODEPLANE_SERVER_URL: server.url,
  NODEPLANE_AGENT_NODE_ID: randomUUID(),
  NODEPLANE_AGENT_HEALTH_INTERVAL_MS: '300',
  NODEPLANE_AGENT_METRICS_INTERVAL_MS: '300',
  NODEPLANE_AGENT_VERSION: '9.8.7',
  NODEPLANE_AGENT_HTTP_PORT: '45001',
  NODEPLANE_AGENT_SSH_PORT: '45002',
  // Several agents share this machine; the SSH feature has its own end-to-end test.
  NODEPLANE_AGENT_SSH_ENABLED: 'false',
  ...overrides,
});

async function streamsConnected(server: ServerProcess): Promise<number> {
  const text = (await server.api.get('/metrics')).text;
  return Number(/^nodeplane_agent_streams_connected (\d+)/m.exec(text)?.[1] ?? -1);
}

for (const engine of testEngines()) {
  describe(`agent end to end, real processes [${engine}]`, () => {
    let server: ServerProcess;
    const agents: AgentProcess[] = [];
    const newAgent = (env: Record<string, string>) => {
      const agent = new AgentProcess(env);
      agents.push(agent);
      return agent;
    };
    const nodeCount = async () => (await server.api.get('/api/v1/nodes?page_size=1')).body.meta.pagination.total_count as number;

    before(async () => {
      server = await ServerProcess.create(engine, SERVER_ENV);
      assert.equal((await server.api.post('/api/v1/clusters', { name: 'edge' })).status, 201);
    });
    after(async () => {
      for (const a of agents) await a.destroy();
      await server.destroy();
    });

    it('enrolls with a key from the Admin API, reports health and host metrics, survives restarts of both sides', async () => {
      const key = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', {})).body.data.key;
      const env = agentEnv(server);
      const agent = newAgent(env);
      agent.start(['--enrollment-key', key]);
      const nodeId = env.NODEPLANE_AGENT_NODE_ID;

      const node = await until(async () => {
        const res = await server.api.get(`/api/v1/nodes/${nodeId}`);
        return res.status === 200 && res.body.data.status === 'healthy' && res.body.data;
      }, `node registered\n${agent.output}`);
      assert.equal(node.version, '9.8.7');
      assert.equal(node.http_port, 45001);
      assert.equal(node.ssh_port, 45002);
      assert.equal(node.cluster_name, 'edge');
      assert.equal(node.id_type, 'random');

      const host = await until(async () => {
        const res = await server.api.get(`/api/v1/nodes/${nodeId}/metrics/host`);
        return res.status === 200 && res.body.data;
      }, 'host metrics');
      assert.equal(host.cpu.cores, os.cpus().length);
      assert.ok(Math.abs(host.memory.total_bytes - os.totalmem()) / os.totalmem() < 0.05, `memory ${host.memory.total_bytes} vs ${os.totalmem()}`);
      assert.ok(host.memory.available_bytes > 0 && host.memory.available_bytes <= host.memory.total_bytes);
      assert.ok(host.disk.total_bytes > 0 && host.disk.used_bytes >= 0);
      assert.ok(Math.abs(host.uptime.seconds - os.uptime()) < 120, `uptime ${host.uptime.seconds} vs ${os.uptime()}`);
      // The agent pushes its own metrics right after the host's, in a second request.
      const unified = await until(async () => {
        const data = (await server.api.get(`/api/v1/nodes/${nodeId}/metrics`)).body.data;
        return data?.agent.available === true && data;
      }, 'agent metrics');
      assert.ok(unified.agent.application.memory_total_bytes > 0);

      await until(async () => (await streamsConnected(server)) === 1, 'live channel up');

      // The control plane restarts: the agent reconnects by itself.
      await server.stop();
      await server.start();
      await until(async () => (await streamsConnected(server)) === 1, `agent reconnected after server restart\n${agent.output}`);

      // The agent stops cleanly; the node goes unreachable after the (shortened) threshold.
      assert.equal(await agent.stop('SIGTERM'), 0);
      await until(async () => (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data.status === 'unreachable', 'node unreachable');

      // It comes back without the key (the key was single-use and is spent) as the same node.
      agent.start();
      await until(async () => (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data.status === 'healthy', `healthy again\n${agent.output}`);
      assert.equal(await nodeCount(), 1, 'no duplicate node');
      assert.equal((await server.api.get(`/api/v1/enrollment_keys?cluster_name=edge`)).body.data[0].uses_remaining, 0);
      await agent.stop();
    });

    it('a cloned machine (same machine-id, own key) is refused with what to do; the first keeps its node', async () => {
      const firstKey = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', {})).body.data.key;
      const cloneKey = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', {})).body.data.key;
      // No NODEPLANE_AGENT_NODE_ID: both derive their id from this host's machine id, like clones do.
      const { NODEPLANE_AGENT_NODE_ID: _unused, ...hostDerived } = agentEnv(server);
      const first = newAgent(hostDerived);
      first.start(['--enrollment-key', firstKey]);
      const nodeId = await until(
        async () => /"node_id":"([0-9a-f-]{36})"[^\n]*"msg":"registered"/.exec(first.output)?.[1],
        `first registered\n${first.output}`,
      );
      const before = (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data;
      assert.equal(before.id_type, 'persistent');

      const clone = newAgent(hostDerived);
      const code = await waitForExit(clone.start(['--enrollment-key', cloneKey]), 20_000);
      assert.notEqual(code, 0, `the clone exits non-zero\n${clone.output}`);
      assert.match(clone.output, new RegExp(`node_id ${nodeId} is already registered by another machine`));
      assert.match(clone.output, /machine id \(\/etc\/machine-id\)/);
      assert.ok(clone.output.includes(`${clone.dataDir}/identity.json`), `names the clone's identity file\n${clone.output}`);

      const after = (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data;
      assert.equal(after.api_token, before.api_token, "the first machine's credentials are untouched");
      assert.equal(after.status, 'healthy');
      await first.stop();
    });

    it('refuses unknown, expired and spent keys and full clusters: the agent exits non-zero and nothing is created', async () => {
      const before = await nodeCount();
      const expired = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', { expired_at: '2020-01-01T00:00:00Z' })).body.data.key;
      const spent = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', {})).body.data.key;
      assert.equal((await server.api.post('/api/v1/agents/enrollment_keys/verify', { key: spent })).body.data.verified, true);
      assert.equal((await server.api.post('/api/v1/clusters', { name: 'full', node_limit: 1 })).status, 201);
      const filler = (await server.api.post('/api/v1/clusters/full/enrollment_keys', {})).body.data.key;
      const fullKey = (await server.api.post('/api/v1/clusters/full/enrollment_keys', {})).body.data.key;
      const fillerAgent = newAgent(agentEnv(server));
      fillerAgent.start(['--enrollment-key', filler]);
      await until(async () => (await nodeCount()) === before + 1, 'filler registered');
      await fillerAgent.stop();

      const unknownKey = Buffer.from(JSON.stringify({ admin_urls: [server.url], nonce: 'nope' })).toString('base64');
      const cases: Array<[string, string]> = [
        [unknownKey, 'invalid_key'],
        [expired, 'key_expired'],
        [spent, 'key_spent'],
        [fullKey, 'node_limit_reached'],
      ];
      for (const [key, reason] of cases) {
        const agent = newAgent(agentEnv(server));
        const child = agent.start(['--enrollment-key', key]);
        const code = await waitForExit(child, 15_000);
        assert.notEqual(code, 0, `${reason}: agent should fail`);
        assert.match(agent.output, new RegExp(reason), `${reason}: the agent says why`);
      }
      assert.equal(await nodeCount(), before + 1, 'refused agents created no node');
    });
  });
}
