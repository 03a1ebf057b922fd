/**
 * Real processes for end-to-end tests: `nodeplane serve` (restartable on the same port and data
 * dir) and `nodeplane agent`, spawned from bin/nodeplane.mjs exactly as an operator runs them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../src/server/db/dialect.ts';
import { ApiClient, scratchDatabaseUrl } from './server.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/nodeplane.mjs');

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function waitForExit(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit in ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export async function until<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class ServerProcess {
  child: ChildProcess | null = null;
  readonly api: ApiClient;
  output = '';

  private constructor(
    readonly url: string,
    private readonly env: Record<string, string>,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.api = new ApiClient(url, env.MASTER_KEY!);
  }

  static async create(engine: Engine, env: Record<string, string> = {}): Promise<ServerProcess> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-e2e-'));
    const scratch = await scratchDatabaseUrl(engine, dataDir);
    const port = await freePort();
    const fullEnv = {
      PORT: String(port),
      // An ephemeral manager listener: processes of parallel test files must not share 8443.
      MANAGER_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: scratch.url,
      MASTER_KEY: randomBytes(12).toString('hex'),
      LOG_LEVEL: 'warn',
      ...env,
    };
    const server = new ServerProcess(`http://127.0.0.1:${port}`, fullEnv, async () => {
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await server.start();
    return server;
  }

  /** Starts (or restarts) the server; `env` adds to or overrides its environment from now on. */
  async start(env: Record<string, string> = {}): Promise<void> {
    Object.assign(this.env, env);
    this.child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    await until(async () => (await fetch(`${this.url}/health`)).ok, `server at ${this.url}\n${this.output}`, 60_000);
  }

  /** The database the server uses, for tests that look at rows directly. */
  get databaseUrl(): string {
    return this.env.DATABASE_URL!;
  }

  async stop(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await waitForExit(this.child);
    this.child = null;
  }

  /** Kills the server without a chance to clean up (SIGKILL by default): a crash. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child) return;
    this.child.kill(signal);
    await waitForExit(this.child);
    this.child = null;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await this.cleanup();
  }
}

export class AgentProcess {
  child: ChildProcess | null = null;
  output = '';
  readonly dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-agent-'));

  constructor(private readonly env: Record<string, string>) {}

  start(args: string[] = []): ChildProcess {
    this.output = '';
    this.child = spawn(process.execPath, [BIN, 'agent', ...args], {
      env: { ...process.env, NODEPLANE_AGENT_DATA_DIR: this.dataDir, NODEPLANE_AGENT_LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    return this.child;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.child) return null;
    this.child.kill(signal);
    const code = await waitForExit(this.child);
    this.child = null;
    return code;
  }

  async destroy(): Promise<void> {
    if (this.child) await this.stop('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
