/**
 * The VPN node side of the e2e tests, with real processes: `nodeplane agent` in its Core role
 * driving Debian's v2ray, and v2ray clients (SOCKS inbound → VMess to the node) that apps' traffic
 * goes through.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AgentProcess } from './processes.ts';

export const V2RAY = '/usr/bin/v2ray';
export const CURL = '/usr/bin/curl';

/** What these tests need that the machine lacks (they skip with this list). */
export const missingTools = (): string[] => [V2RAY, CURL].filter((p) => !existsSync(p));

/** Starts the Core role registered with `registrationCode`; `env` adds or overrides settings. */
export function startCoreAgent(serverUrl: string, registrationCode: string, env: Record<string, string> = {}): AgentProcess {
  const agent = new AgentProcess({
    NODEPLANE_CORE_SERVER_URL: serverUrl,
    NODEPLANE_CORE_CODE: registrationCode,
    NODEPLANE_CORE_BINARY: V2RAY,
    NODEPLANE_AGENT_SSH_ENABLED: 'false',
    ...env,
  });
  agent.start();
  return agent;
}

/** The pid and API port of the core the agent runs, from its pid file; null before it started one. */
export function coreProcess(agent: AgentProcess): { pid: number; apiPort: number } | null {
  const file = path.join(agent.dataDir, 'core', 'core.pid.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { pid: number; apiPort: number }) : null;
}

/** Stops the agent and its core: the core deliberately outlives its agent (the next agent adopts it), a test must not leave it. */
export async function stopCoreAgent(agent: AgentProcess | undefined): Promise<void> {
  if (!agent) return;
  const core = coreProcess(agent);
  await agent.stop('SIGTERM');
  if (core) {
    try {
      process.kill(core.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await agent.destroy();
}

/** A v2ray client: SOCKS on `socksPort` → VMess to the node's `vmessPort` as user `id`; its config goes in `dir`. */
export function startVmessClient(dir: string, { socksPort, vmessPort, id }: { socksPort: number; vmessPort: number; id: string }): ChildProcess {
  const file = path.join(dir, `client-${socksPort}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      log: { loglevel: 'warning' },
      inbounds: [{ port: socksPort, listen: '127.0.0.1', protocol: 'socks', settings: { auth: 'noauth', udp: false } }],
      outbounds: [{ protocol: 'vmess', settings: { vnext: [{ address: '127.0.0.1', port: vmessPort, users: [{ id, alterId: 0, security: 'auto' }] }] } }],
    }),
  );
  return spawn(V2RAY, ['-config', file], { stdio: 'ignore' });
}
