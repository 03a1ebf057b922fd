/**
 * Shared set-up for tests of agent features (commands, self-update): a real Agent against the fake
 * control plane, with only the features under test, in a temp data dir. Tests only.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach } from 'node:test';
import pino from 'pino';
import { Agent } from '../edge/agent.ts';
import { type AgentConfig, loadAgentConfig } from '../shared/config.ts';
import { FakeControlPlane } from './fake-control-plane.ts';
import type { AgentFeature } from '../edge/features.ts';

const silent = pino({ level: 'silent' });

const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

export async function controlPlane(): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane();
  await cp.listen();
  cleanups.push(() => cp.close());
  return cp;
}

export async function tempDir(prefix = 'np-agent-feature-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function agentConfig(cp: FakeControlPlane, dataDir: string, nodeId: string, env: Record<string, string> = {}): AgentConfig {
  const c = loadAgentConfig(
    ['--server', cp.url, '--enrollment-key', cp.issueKey('prod', null), '--data-dir', dataDir],
    {
      NODEPLANE_AGENT_VERSION: '1.2.3',
      NODEPLANE_AGENT_NODE_ID: nodeId,
      ...env,
    },
    '/',
  );
  assert.notEqual(c, 'help');
  return c as AgentConfig;
}

/** Runs an Agent with just `features`; stopped after the test unless the test stops it first. */
export function startAgent(config: AgentConfig, features: AgentFeature[]) {
  const agent = new Agent(config, {
    logger: silent,
    features,
    stream: { backoff: { initialMs: 20, maxMs: 200 } },
    retry: { initialMs: 20, maxMs: 200 },
    minReregisterGapMs: 0,
  });
  const result = agent.run().then(
    () => ({ ok: true as const }),
    (error: Error) => ({ ok: false as const, error }),
  );
  const stop = async () => {
    await agent.stop();
    await result;
  };
  cleanups.push(stop);
  return { agent, result, stop };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
