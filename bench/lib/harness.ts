/**
 * Shared bench plumbing: a Nodeplane server in a child process on a scratch data dir, a bare
 * node:http baseline, a keep-alive HTTP load generator, and RSS readings. Benches print their
 * figure as a ratio against a baseline measured in the same run; they never assert on time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ChildServer {
  url: string;
  pid: number;
  masterKey: string;
  stop(): Promise<void>;
}

async function waitForUrl(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/** `nodeplane serve` on SQLite (or DATABASE_URL from `env`) in a fresh data dir. */
export async function startNodeplane(env: Record<string, string> = {}): Promise<ChildServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-bench-'));
  const port = await freePort();
  const masterKey = randomBytes(16).toString('hex');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/nodeplane.mjs'), 'serve'], {
    // Benchmarks enroll thousands of agents from one address, as an operator who lifts the limit would.
    env: {
      ...process.env,
      PORT: String(port),
      MANAGER_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MASTER_KEY: masterKey,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PUBLIC_MAX: '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(`${url}/health`, child);
  return {
    url,
    pid: child.pid!,
    masterKey,
    async stop() {
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The baseline: bare node:http answering "hello" in its own process. */
export async function startBareHttp(): Promise<ChildServer> {
  const port = await freePort();
  const source = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('hello')); }).listen(${port}, '127.0.0.1')`;
  const child = spawn(process.execPath, ['-e', source], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(url, child);
  return { url, pid: child.pid!, masterKey: '', stop: () => stopChild(child) };
}

export interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Closed-loop load: `concurrency` keep-alive connections for `durationMs`; returns requests/s. */
export async function measureThroughput(
  baseUrl: string,
  next: (i: number) => LoadRequest,
  options: { durationMs: number; concurrency: number },
): Promise<{ perSecond: number; errors: number }> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  let done = 0;
  let errors = 0;
  let i = 0;
  const end = Date.now() + options.durationMs;
  const one = (req: LoadRequest) =>
    new Promise<void>((resolve) => {
      const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode! >= 400) errors++;
          resolve();
        });
      });
      r.on('error', () => {
        errors++;
        resolve();
      });
      r.end(req.body);
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (Date.now() < end) {
        await one(next(i++));
        done++;
      }
    }),
  );
  agent.destroy();
  return { perSecond: done / ((Date.now() - started) / 1000), errors };
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** Peak resident set size of a process so far (VmHWM), in bytes. */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
