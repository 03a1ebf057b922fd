import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { Agent, AgentFatalError, type AgentDeps } from './agent.ts';
import { type AgentConfig, loadAgentConfig } from '../shared/config.ts';
import { FakeControlPlane } from '../testing/fake-control-plane.ts';
import { statePath } from '../shared/state.ts';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function controlPlane(): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane();
  await cp.listen();
  cleanups.push(() => cp.close());
  return cp;
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-'));
  dirs.push(dir);
  return dir;
}

function config(args: string[], env: Record<string, string>): AgentConfig {
  const c = loadAgentConfig(args, { NODEPLANE_AGENT_VERSION: '1.2.3', ...env }, '/');
  assert.notEqual(c, 'help');
  return c as AgentConfig;
}

/** Starts an agent; `result` settles when run() does, so a test can assert on fatal exits. */
function start(cfg: AgentConfig, deps: Partial<AgentDeps> = {}) {
  const agent = new Agent(cfg, {
    logger: silent,
    stream: { backoff: { initialMs: 20, maxMs: 200 } },
    retry: { initialMs: 20, maxMs: 200 },
    minReregisterGapMs: 0,
    // Lifecycle tests: commands, SSH and self-update have their own (and SSH would bind port 40022).
    features: [],
    ...deps,
  });
  const result = agent.run().then(
    () => ({ ok: true as const }),
    (error: Error) => ({ ok: false as const, error }),
  );
  cleanups.push(async () => {
    await agent.stop();
    await result;
  });
  return { agent, result };
}

async function waitFor(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('agent', () => {
  it('enrolls on first start, stores 0600 state, streams health and pushes both metric kinds', async () => {
    const cp = await controlPlane();
    const dir = await dataDir();
    const nodeId = randomUUID();
    const key = cp.issueKey('prod');
    // No --server: the URL comes from the key's admin_urls.
    const { agent } = start(config(['--enrollment-key', key, '--data-dir', dir], { NODEPLANE_AGENT_NODE_ID: nodeId, NODEPLANE_AGENT_SSH_PORT: '2222' }));

    await waitFor(() => cp.streamFrames.some((f) => f.nodeId === nodeId), 'a health frame over the stream');
    assert.deepEqual(cp.streamFrames[0]!.frame, { type: 'health', status: 'healthy' });
    assert.equal(cp.count('POST', '/api/v1/agents/enrollment_keys/verify'), 1);
    assert.deepEqual(cp.nodes.get(nodeId)!.body, {
      node_id: nodeId,
      network_name: 'cluster-prod',
      id_type: 'random',
      http_port: 44000,
      ssh_port: 2222,
      host_metrics_port: 49100,
      wireguard_metrics_port: 49586,
      http_proxy_port: 43128,
      socks5_proxy_port: 41080,
      version: '1.2.3',
      self_update_enabled: false,
    });

    const saved = JSON.parse(await readFile(statePath(dir), 'utf8'));
    assert.equal((await stat(statePath(dir))).mode & 0o777, 0o600);
    assert.equal(saved.node_id, nodeId);
    assert.equal(saved.network_name, 'cluster-prod');
    assert.equal(saved.api_token, cp.nodes.get(nodeId)!.token);
    assert.deepEqual(saved.admin_urls, [cp.url]);
    assert.equal(typeof saved.proxy_password, 'string');

    await waitFor(() => cp.pushes.length >= 2, 'metrics pushes');
    const host = cp.pushes.find((p) => p.metrics_type === 'host')!;
    const own = cp.pushes.find((p) => p.metrics_type === 'agent')!;
    assert.match(host.metrics_text, /^node_memory_MemTotal_bytes \d+$/m);
    assert.match(host.metrics_text, /^node_cpu_seconds_total\{cpu="0",mode="idle"\} /m);
    assert.match(own.metrics_text, /^nodeplane_agent_uptime_seconds \d+$/m);
    assert.match(own.metrics_text, /^process_resident_memory_bytes \d+$/m);
    assert.match(own.metrics_text, /^nodejs_heap_size_used_bytes \d+$/m);
    // While the stream is up, health does not also go over HTTP.
    assert.equal(cp.healthReports.length, 0);
    assert.equal(agent.nodeId, nodeId);
  });

  it('reuses saved state on later starts: no key needed, re-registers with a fresh token', async () => {
    const cp = await controlPlane();
    const dir = await dataDir();
    const env = { NODEPLANE_AGENT_NODE_ID: randomUUID() };
    const key = cp.issueKey('prod', 1);
    const first = start(config(['--enrollment-key', key, '--data-dir', dir], env));
    await waitFor(() => first.agent.registration?.api_token != null, 'first registration');
    const firstToken = first.agent.registration!.api_token;
    await first.agent.stop();
    assert.deepEqual(await first.result, { ok: true });
    const socketsBefore = cp.sockets.length;

    // The single-use key is spent: only saved state can get this start through.
    const second = start(config(['--data-dir', dir], { ...env, NODEPLANE_AGENT_VERSION: '2.0.0' }));
    await waitFor(() => cp.nodes.get(env.NODEPLANE_AGENT_NODE_ID)!.registrations === 2, 're-registration');
    await waitFor(() => cp.sockets.length === socketsBefore + 1, 'stream of the second start');
    assert.equal(cp.count('POST', '/api/v1/agents/enrollment_keys/verify'), 1);
    assert.equal(cp.nodes.get(env.NODEPLANE_AGENT_NODE_ID)!.body.version, '2.0.0');
    // The state file is rewritten after the registration answer arrives; give it that moment.
    await waitFor(() => second.agent.registration?.api_token != null && second.agent.registration.api_token !== firstToken, 'new token in memory');
    let saved = JSON.parse(await readFile(statePath(dir), 'utf8'));
    for (let i = 0; i < 100 && saved.api_token !== second.agent.registration!.api_token; i++) {
      await new Promise((r) => setTimeout(r, 20));
      saved = JSON.parse(await readFile(statePath(dir), 'utf8'));
    }
    assert.notEqual(saved.api_token, firstToken);
    assert.equal(saved.api_token, second.agent.registration!.api_token);
  });

  it('exits with the server’s reason when the key is rejected, and stores nothing', async () => {
    const cp = await controlPlane();
    const dir = await dataDir();
    const key = cp.issueKey('prod', 0);
    const { result } = start(config(['--enrollment-key', key, '--data-dir', dir], { NODEPLANE_AGENT_NODE_ID: randomUUID() }));
    const outcome = await result;
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.error instanceof AgentFatalError);
    assert.match(!outcome.ok ? outcome.error.message : '', /enrollment key rejected by http:\/\/127\.0\.0\.1:\d+: key_spent \(the key has no uses left\)/);
    await assert.rejects(stat(statePath(dir)), { code: 'ENOENT' });
    assert.equal(cp.count('POST', '/api/v1/agents/nodes'), 0);
  });

  it('needs a key when there is no saved state', async () => {
    const cp = await controlPlane();
    const { result } = start(config(['--server', cp.url, '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: randomUUID() }));
    const outcome = await result;
    assert.ok(!outcome.ok);
    assert.match(outcome.error.message, /not enrolled yet .*--enrollment-key/);
    assert.equal(cp.requests.length, 0);
  });

  it('treats 422 and 409 on registration as fatal, with the details', async () => {
    for (const failure of [
      { status: 422, code: 'validation_failed', message: 'Validation failed', details: { node_id: ['node not found in Netmaker network'] } },
      { status: 409, code: 'conflict', message: 'cluster has reached its node limit of 3' },
    ]) {
      const cp = await controlPlane();
      cp.registrationFailure = failure;
      const { result } = start(config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: randomUUID() }));
      const outcome = await result;
      assert.ok(!outcome.ok);
      assert.ok(outcome.error instanceof AgentFatalError);
      assert.match(
        outcome.error.message,
        failure.status === 422
          ? /422 validation_failed: Validation failed \(node_id: node not found in Netmaker network\)/
          : /409 conflict: cluster has reached its node limit of 3/,
      );
    }
  });

  it('does not verify the key again when registration failed after a successful verify', async () => {
    const cp = await controlPlane();
    const dir = await dataDir();
    const env = { NODEPLANE_AGENT_NODE_ID: randomUUID() };
    const key = cp.issueKey('prod', 1);
    cp.registrationFailure = { status: 409, code: 'conflict', message: 'cluster has reached its node limit of 1' };
    assert.equal((await start(config(['--enrollment-key', key, '--data-dir', dir], env)).result).ok, false);
    cp.registrationFailure = null;
    const { agent } = start(config(['--enrollment-key', key, '--data-dir', dir], env));
    await waitFor(() => agent.registration?.api_token != null, 'registration on retry');
    assert.equal(cp.count('POST', '/api/v1/agents/enrollment_keys/verify'), 1);
  });

  it('uses cluster_name from verify, or --cluster when the server omits it', async () => {
    const cp = await controlPlane();
    cp.verifyIncludesClusterName = false;
    const without = start(config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: randomUUID() }));
    const outcome = await without.result;
    assert.ok(!outcome.ok);
    assert.match(outcome.error.message, /names no cluster .*--cluster/);

    const nodeId = randomUUID();
    const { agent } = start(
      config(['--enrollment-key', cp.issueKey(), '--cluster', 'prod', '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: nodeId }),
    );
    await waitFor(() => agent.registration?.api_token != null, 'registration');
    assert.equal(cp.nodes.get(nodeId)!.body.network_name, 'cluster-prod');
  });

  it('falls back to HTTP health at the health interval while there is no stream', async () => {
    const cp = await controlPlane();
    cp.streamEnabled = false;
    const nodeId = randomUUID();
    start(
      config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], {
        NODEPLANE_AGENT_NODE_ID: nodeId,
        NODEPLANE_AGENT_HEALTH_INTERVAL_MS: '100',
        NODEPLANE_AGENT_METRICS_INTERVAL_MS: '150',
      }),
    );
    await waitFor(() => cp.healthReports.length >= 3 && cp.pushes.length >= 4, 'several fallback rounds');
    assert.deepEqual(cp.healthReports[0], { nodeId, status: 'healthy' });
    assert.equal(cp.streamFrames.length, 0);
    // The agent's own metrics count the HTTP reports, which is what the contract's health_check shows.
    await waitFor(
      () => cp.pushes.some((p) => p.metrics_type === 'agent' && /^nodeplane_agent_health_reports_total [1-9]/m.test(p.metrics_text)),
      'health report counter',
    );
  });

  it('switches health to HTTP when the stream drops, and back when it returns', async () => {
    const cp = await controlPlane();
    const nodeId = randomUUID();
    start(
      config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], {
        NODEPLANE_AGENT_NODE_ID: nodeId,
        NODEPLANE_AGENT_HEALTH_INTERVAL_MS: '100',
      }),
    );
    await waitFor(() => cp.streamFrames.length >= 1, 'stream health');
    cp.streamEnabled = false;
    for (const s of cp.sockets) s.ws.terminate();
    await waitFor(() => cp.healthReports.length >= 2, 'HTTP health while the stream is down');
    cp.streamEnabled = true;
    const framesBefore = cp.streamFrames.length;
    await waitFor(() => cp.streamFrames.length > framesBefore, 'stream health after reconnect');
  });

  it('re-registers with its stored identity when its token stops working', async () => {
    const cp = await controlPlane();
    const nodeId = randomUUID();
    const dir = await dataDir();
    const { agent } = start(
      config(['--enrollment-key', cp.issueKey(), '--data-dir', dir], { NODEPLANE_AGENT_NODE_ID: nodeId, NODEPLANE_AGENT_METRICS_INTERVAL_MS: '100' }),
    );
    await waitFor(() => cp.sockets.length === 1 && cp.pushes.length >= 2, 'connected');
    cp.revokeToken(nodeId);
    await waitFor(() => cp.nodes.get(nodeId)!.registrations === 2, 're-registration');
    await waitFor(() => cp.sockets.length >= 2, 'stream with the new token');
    const token = cp.nodes.get(nodeId)!.token;
    assert.equal(agent.registration!.api_token, token);
    assert.equal(JSON.parse(await readFile(statePath(dir), 'utf8')).api_token, token);
    const pushesBefore = cp.pushes.length;
    await waitFor(() => cp.pushes.length > pushesBefore, 'pushes with the new token');
    assert.equal(cp.count('POST', '/api/v1/agents/enrollment_keys/verify'), 1);
    // 401s that were in flight with the old token must not rotate the fresh one again.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cp.nodes.get(nodeId)!.registrations, 2);
  });

  it('ends run() with the reason when a re-registration is refused', async () => {
    const cp = await controlPlane();
    const nodeId = randomUUID();
    const { agent, result } = start(config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: nodeId }));
    await waitFor(() => cp.sockets.length === 1, 'connected');
    cp.registrationFailure = { status: 422, code: 'validation_failed', message: 'Validation failed', details: { network_name: ['is invalid'] } };
    cp.revokeToken(nodeId);
    const outcome = await result;
    assert.ok(!outcome.ok, 'a refused re-registration must not look like a clean stop');
    assert.ok(outcome.error instanceof AgentFatalError);
    assert.match(outcome.error.message, /registration rejected .*422 validation_failed.*network_name: is invalid/);
    assert.equal(agent.stream.isOpen, false);
  });

  it('presents the join ticket at first registration and its api_token afterwards, when the server wants proof', async () => {
    const cp = await controlPlane();
    cp.registrationNeedsCredential = true;
    const dir = await dataDir();
    const env = { NODEPLANE_AGENT_NODE_ID: randomUUID() };
    const first = start(config(['--enrollment-key', cp.issueKey(), '--data-dir', dir], env));
    await waitFor(() => first.agent.registration?.api_token != null, 'first registration');
    const registrations = () => cp.requests.filter((r) => r.path === '/api/v1/agents/nodes');
    assert.match(registrations()[0]!.authorization ?? '', /^Bearer [\w-]{32}$/, 'the ticket from verify');
    assert.equal(cp.tickets.size, 0, 'ticket consumed');
    const saved = JSON.parse(await readFile(statePath(dir), 'utf8'));
    assert.equal(saved.join_ticket, null, 'a spent ticket is not kept');
    const token = saved.api_token;
    await first.agent.stop();

    const second = start(config(['--data-dir', dir], env));
    await waitFor(() => cp.nodes.get(env.NODEPLANE_AGENT_NODE_ID)!.registrations === 2, 're-registration');
    assert.equal(registrations()[1]!.authorization, `Bearer ${token}`);
    await second.agent.stop();
  });

  it('explains how to recover when the server takes neither its token nor a ticket', async () => {
    const cp = await controlPlane();
    cp.registrationNeedsCredential = true;
    const nodeId = randomUUID();
    const { result } = start(config(['--enrollment-key', cp.issueKey(), '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: nodeId }));
    await waitFor(() => cp.sockets.length === 1, 'connected');
    cp.revokeToken(nodeId);
    const outcome = await result;
    assert.ok(!outcome.ok);
    assert.match(outcome.error.message, /registration refused .*\(401\).*enroll again with a new key/);
  });

  it('waits for a control plane that is down at first start', async () => {
    const cp = new FakeControlPlane();
    const url = await cp.listen();
    const key = cp.issueKey();
    const port = Number(new URL(url).port);
    await cp.close();
    const nodeId = randomUUID();
    const { agent } = start(config(['--enrollment-key', key, '--data-dir', await dataDir()], { NODEPLANE_AGENT_NODE_ID: nodeId }));
    await new Promise((r) => setTimeout(r, 150));
    const revived = new FakeControlPlane();
    revived.keys.set(key, { cluster: 'prod', uses: 1 });
    await revived.listen(port);
    cleanups.push(() => revived.close());
    await waitFor(() => agent.registration?.api_token != null && revived.sockets.length === 1, 'registration once the server is up', 10_000);
  });

  it('stop() ends run() promptly even mid-retry', async () => {
    const dir = await dataDir();
    const key = Buffer.from(JSON.stringify({ admin_urls: ['http://127.0.0.1:9'], nonce: 'x' })).toString('base64');
    const { agent, result } = start(config(['--enrollment-key', key, '--data-dir', dir], { NODEPLANE_AGENT_NODE_ID: randomUUID() }), {
      retry: { initialMs: 10_000, maxMs: 10_000 },
    });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await agent.stop();
    assert.deepEqual(await result, { ok: true });
    assert.ok(Date.now() - started < 1_000);
  });
});
