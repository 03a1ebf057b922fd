/**
 * Registration storm: N emulated agents (edge-admin spec §6.4–6.5 and our stream protocol) verify an
 * enrollment key, register and open their live channel all at once against a Nodeplane child
 * process. Prints the time until every agent holds its welcome frame and the server's peak RSS.
 *
 * Baseline, measured in the same run from the same client process: N bare WebSocket connects at once
 * to a bare `ws` server in its own process that sends each socket one welcome frame (no HTTP calls,
 * no database, no auth) — the floor for "N agents arrive at once".
 *
 * Runs on SQLite, and on Postgres as well when DATABASE_URL or TEST_POSTGRES_URL is a postgres://
 * URL: a scratch database is created next to it and dropped afterwards. Every socket has its own
 * deadline and is torn down, so a refused or stuck agent is counted, never waited for.
 *
 *   node --import tsx bench/storm.ts [--agents 1000] [--deadline-seconds 60]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { createScratchPostgresDatabase, type Engine } from '../src/server/db/dialect.ts';
import { adminCall, registrationBody } from './lib/agents.ts';
import { fmt, peakRssBytes, startNodeplane } from './lib/harness.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '1000' }, 'deadline-seconds': { type: 'string', default: '60' } } });
const count = Number(values.agents);
const deadlineMs = Number(values['deadline-seconds']) * 1000;
const MiB = 2 ** 20;

/** Opens one channel and settles with its first frame's type, or with why there was none. */
function openChannel(url: string, token: string | null, sockets: Set<WebSocket>): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false, handshakeTimeout: deadlineMs });
    sockets.add(socket);
    const deadline = setTimeout(() => settle('no welcome frame in time'), deadlineMs);
    function settle(outcome: string) {
      clearTimeout(deadline);
      resolve(outcome);
    }
    socket.once('message', (data) => settle((JSON.parse(data.toString()) as { type: string }).type));
    socket.once('unexpected-response', (_req, res) => settle(`stream refused ${res.statusCode}`));
    socket.once('error', (error) => settle(`stream error ${error.message}`));
    socket.once('close', (code) => settle(`stream closed ${code}`));
  });
}

function closeAll(sockets: Set<WebSocket>): Promise<void> {
  return Promise.all(
    [...sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(resolve, 5_000);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.terminate();
        }),
    ),
  ).then(() => sockets.clear());
}

function summarise(outcomes: string[]): string {
  const failures = new Map<string, number>();
  for (const o of outcomes) if (o !== 'welcome') failures.set(o, (failures.get(o) ?? 0) + 1);
  return failures.size === 0 ? 'none failed' : [...failures].map(([why, n]) => `${n}× ${why}`).join('; ');
}

/** The bare `ws` server, in its own process like Nodeplane, with the same listen backlog. */
async function startBareWs(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const source = `
    const http = require('http');
    const { WebSocketServer } = require('ws');
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.send('{"type":"welcome"}'));
    server.listen(0, '127.0.0.1', 4096, () => process.send(server.address().port));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
  return {
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function baseline(): Promise<{ ms: number; peakRss: number; outcomes: string[] }> {
  const bare = await startBareWs();
  const sockets = new Set<WebSocket>();
  try {
    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: count }, () => openChannel(bare.url, null, sockets)));
    const ms = performance.now() - started;
    return { ms, peakRss: peakRssBytes(bare.pid), outcomes };
  } finally {
    await closeAll(sockets);
    await bare.stop();
  }
}

async function storm(engine: Engine, pgAdmin: string | undefined): Promise<{ ms: number; peakRss: number; outcomes: string[] }> {
  const scratch = engine === 'postgres' ? await createScratchPostgresDatabase(pgAdmin!, `nodeplane_bench_${randomBytes(6).toString('hex')}`) : null;
  // An empty DATABASE_URL means the default SQLite file, whatever the caller's environment says.
  const server = await startNodeplane({ DATABASE_URL: scratch ? scratch.url : '' });
  const sockets = new Set<WebSocket>();
  try {
    const cluster = `storm-${randomUUID().slice(0, 8)}`;
    await adminCall(server.url, server.masterKey, 'POST', '/api/v1/clusters', { name: cluster, ipv4_range: '100.96.0.0/16' });
    const key = (await adminCall(server.url, server.masterKey, 'POST', `/api/v1/clusters/${cluster}/enrollment_keys`, { uses_remaining: null })).data
      .key as string;
    const streamUrl = `${server.url.replace('http', 'ws')}/api/v1/agents/stream`;
    const started = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: count }, async () => {
        try {
          const calls = AbortSignal.timeout(deadlineMs);
          const ticket = (await withSignal(calls, () => adminCall(server.url, '', 'POST', '/api/v1/agents/enrollment_keys/verify', { key }))).data
            .netmaker_key as string;
          const registered = await withSignal(calls, () =>
            adminCall(server.url, ticket, 'POST', '/api/v1/agents/nodes', registrationBody(cluster, randomUUID())),
          );
          return await openChannel(streamUrl, registered.data.api_token as string, sockets);
        } catch (error) {
          return `request failed: ${(error as Error).message.slice(0, 80)}`;
        }
      }),
    );
    const ms = performance.now() - started;
    return { ms, peakRss: peakRssBytes(server.pid), outcomes };
  } finally {
    await closeAll(sockets);
    await server.stop();
    await scratch?.drop();
  }
}

/** A per-agent deadline over its HTTP calls: a stuck request becomes a counted failure. */
function withSignal<T>(signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(new Error('deadline passed'));
    signal.addEventListener('abort', () => reject(new Error('deadline passed')), { once: true });
    call().then(resolve, reject);
  });
}

const bare = await baseline();
console.log(
  `baseline, ${fmt(count)} bare WebSocket connects to a bare ws server: ${fmt(bare.ms)} ms, server peak RSS ${fmt(bare.peakRss / MiB, 1)} MiB (${summarise(bare.outcomes)})`,
);

const pgAdmin = [process.env.DATABASE_URL, process.env.TEST_POSTGRES_URL].find((u) => u?.startsWith('postgres'));
const engines: Engine[] = pgAdmin ? ['sqlite', 'postgres'] : ['sqlite'];
for (const engine of engines) {
  const run = await storm(engine, pgAdmin);
  const welcomed = run.outcomes.filter((o) => o === 'welcome').length;
  console.log(
    `[${engine}] ${fmt(count)} agents verify + register + open their channel at once: ${fmt(run.ms)} ms (${fmt(run.ms / bare.ms, 1)}× baseline), ${fmt(welcomed)} connected (${summarise(run.outcomes)})`,
  );
  console.log(`[${engine}] server peak RSS: ${fmt(run.peakRss / MiB, 1)} MiB (${fmt(run.peakRss / bare.peakRss, 1)}× the bare ws server's)`);
  const failed = welcomed === count ? '' : `; ${count - welcomed} FAILED`;
  report({
    name: `storm ${fmt(count)} time [${engine}]`,
    figure: run.ms,
    unit: 'ms all welcomed',
    baseline: bare.ms,
    baselineUnit: 'ms bare ws connects',
    ratio: run.ms / bare.ms,
    aim: `every agent connects${failed}`,
  });
  report({
    name: `storm ${fmt(count)} peak RSS [${engine}]`,
    figure: run.peakRss / MiB,
    unit: 'MiB',
    baseline: bare.peakRss / MiB,
    baselineUnit: 'MiB bare ws server',
    ratio: run.peakRss / bare.peakRss,
    aim: '',
  });
  if (welcomed !== count) process.exitCode = 1;
}
if (!pgAdmin) console.log('[postgres] skipped: set DATABASE_URL or TEST_POSTGRES_URL to a postgres:// URL');
