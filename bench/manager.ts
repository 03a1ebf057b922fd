/**
 * Manager fleet at steady state: N emulated bilbycast edges (manager spec §1) register over wss://
 * with a Nodeplane child process and send `stats` every second (the §1.4.1 edge shape, a few flows
 * each). Over a steady window it measures the server's CPU time per stats frame and its peak RSS
 * growth per node.
 *
 * Baseline, measured in the same run from the same client process: a bare `ws` server over TLS (same
 * certificate) in its own process that answers the auth frame with `auth_ok` and JSON-parses every
 * frame — the floor for "N nodes stream stats over wss".
 *
 * Third figure, with the fleet streaming: the dashboard broadcast latency, from a probe node's
 * `stats` frame (a unique `uptime_secs`) to the first `dashboard_update` an operator's
 * `/ws/dashboard` receives that shows it. Updates are coalesced to `stats_broadcast_interval_ms`
 * (1 s) by design, so its baseline is that tick: the ratio says how far past one tick it lands.
 *
 * Runs on SQLite (the default database of `nodeplane serve`).
 *
 *   node --import tsx bench/manager.ts [--nodes 5000] [--seconds 20]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { generateSelfSignedCert } from '../src/server/lib/self-signed-cert.ts';
import { fmt, peakRssBytes, rssBytes, startNodeplane } from './lib/harness.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '20' } } });
const count = Number(values.nodes);
const windowMs = Number(values.seconds) * 1000;
const WARMUP_MS = 3000;
/** Sockets opened at a time: a fleet reconnects gradually, and 5,000 TLS handshakes at once measure the handshake, not the steady state. */
const CONNECT_CONCURRENCY = 50;
const CLK_TCK = 100;
const KiB = 1024;

const certDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-bench-tls-'));
const tls = generateSelfSignedCert({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], validDays: 2 });
const certFile = path.join(certDir, 'cert.pem');
const keyFile = path.join(certDir, 'key.pem');
writeFileSync(certFile, tls.certPem);
writeFileSync(keyFile, tls.keyPem, { mode: 0o600 });

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const flowStats = (i: number) => ({
  flow_id: `flow-${i}`,
  flow_name: `Flow ${i}`,
  state: 'Running',
  input: {
    input_type: 'srt',
    state: 'Running',
    mode: 'listener',
    packets_received: 1_000_000 + i,
    bytes_received: 1_316_000_000,
    bitrate_bps: 8_000_000,
    packets_lost: 3,
    packets_filtered: 0,
    packets_recovered_fec: 0,
  },
  outputs: [
    {
      output_id: `out-${i}`,
      output_name: 'udp out',
      output_type: 'udp',
      state: 'Running',
      packets_sent: 999_990,
      bytes_sent: 1_315_000_000,
      bitrate_bps: 8_000_000,
      packets_dropped: 0,
      fec_packets_sent: 0,
    },
  ],
  uptime_secs: 3600,
  health: 'Healthy',
});

function statsFrame(uptime: number): string {
  const payload = {
    flows: [flowStats(1), flowStats(2), flowStats(3)],
    tunnels: [],
    uptime_secs: uptime,
    active_flows: 3,
    total_flows: 3,
    system_resources: { cpu_percent: 12.5, ram_percent: 31.0, ram_used_mb: 620, ram_total_mb: 1987 },
  };
  return JSON.stringify({ type: 'stats', timestamp: new Date().toISOString(), payload });
}

interface Fleet {
  sockets: WebSocket[];
  timers: NodeJS.Timeout[];
  sent: number;
  failures: Map<string, number>;
}

/** One node: auth frame, first reply, then `stats` every second from a random phase. */
function openNode(url: string, auth: Record<string, unknown>, fleet: Fleet): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = new WebSocket(url, { ca: tls.certPem, perMessageDeflate: false, handshakeTimeout: 30_000 });
    const fail = (why: string) => {
      fleet.failures.set(why, (fleet.failures.get(why) ?? 0) + 1);
      resolve();
    };
    socket.once('open', () => socket.send(JSON.stringify({ type: 'auth', payload: auth })));
    socket.once('error', (error) => fail(`error ${error.message.slice(0, 60)}`));
    socket.once('message', (data) => {
      const reply = JSON.parse(String(data)) as { type: string };
      if (reply.type !== 'register_ack' && reply.type !== 'auth_ok') return fail(`refused ${reply.type}`);
      fleet.sockets.push(socket);
      let uptime = 0;
      const start = setTimeout(() => {
        const timer = setInterval(() => {
          if (socket.readyState !== WebSocket.OPEN) return;
          socket.send(statsFrame(++uptime));
          fleet.sent += 1;
        }, 1000);
        fleet.timers.push(timer);
      }, Math.random() * 1000);
      fleet.timers.push(start);
      resolve();
    });
  });
}

async function connectFleet(url: string, auths: Array<Record<string, unknown>>): Promise<Fleet> {
  const fleet: Fleet = { sockets: [], timers: [], sent: 0, failures: new Map() };
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECT_CONCURRENCY }, async () => {
      while (next < auths.length) await openNode(url, auths[next++]!, fleet);
    }),
  );
  return fleet;
}

function closeFleet(fleet: Fleet): void {
  for (const timer of fleet.timers) clearTimeout(timer);
  for (const socket of fleet.sockets) socket.terminate();
}

interface Run {
  /** Median stats frame → dashboard_update, Nodeplane only. */
  dashboardLatencyMs?: number;
  cpuUsPerFrame: number;
  cpuPercent: number;
  rssPerNodeKiB: number;
  connected: number;
  failures: string;
}

/** Warm-up, then the steady window: server CPU and frames sent over it; RSS growth from idle to peak. */
async function steady(pid: number, url: string, auths: Array<Record<string, unknown>>): Promise<Run & { fleet: Fleet }> {
  const idleRss = rssBytes(pid);
  const fleet = await connectFleet(url, auths);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const cpu0 = cpuSeconds(pid);
  const sent0 = fleet.sent;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const cpu = cpuSeconds(pid) - cpu0;
  const wall = (performance.now() - t0) / 1000;
  const frames = fleet.sent - sent0;
  const failures = fleet.failures.size === 0 ? 'none failed' : [...fleet.failures].map(([why, n]) => `${n}× ${why}`).join('; ');
  return {
    fleet,
    cpuUsPerFrame: (cpu * 1e6) / Math.max(frames, 1),
    cpuPercent: (cpu / wall) * 100,
    rssPerNodeKiB: (peakRssBytes(pid) - idleRss) / KiB / Math.max(fleet.sockets.length, 1),
    connected: fleet.sockets.length,
    failures,
  };
}

/** The bare TLS `ws` server, in its own process like Nodeplane. */
async function startBareWss(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const source = `
    const https = require('https');
    const fs = require('fs');
    const { WebSocketServer } = require('ws');
    const server = https.createServer({ cert: fs.readFileSync(${JSON.stringify(certFile)}), key: fs.readFileSync(${JSON.stringify(keyFile)}) });
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.once('message', () => ws.send('{"type":"auth_ok"}'));
      ws.on('message', (data) => JSON.parse(String(data)));
    });
    server.listen(0, '127.0.0.1', 4096, () => process.send(server.address().port));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
  return {
    url: `wss://127.0.0.1:${port}/ws/node`,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function managerCall(url: string, key: string, method: string, route: string, body?: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}${route}`,
      { method, ca: tls.certPem, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          res.statusCode! < 300 ? resolve(text ? JSON.parse(text) : null) : reject(new Error(`${method} ${route}: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function nodeplaneRun(): Promise<Run> {
  const managerPort = 20_000 + Math.floor(Math.random() * 20_000);
  const server = await startNodeplane({
    DATABASE_URL: '',
    MANAGER_PORT: String(managerPort),
    MANAGER_HOST: '127.0.0.1',
    MANAGER_TLS_CERT_FILE: certFile,
    MANAGER_TLS_KEY_FILE: keyFile,
    OPERATOR_USERNAME: 'bench',
    OPERATOR_PASSWORD: OPERATOR_PASSWORD,
  });
  const managerUrl = `https://127.0.0.1:${managerPort}`;
  try {
    const tokens: string[] = [];
    let made = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (made < count) {
          const i = made++;
          tokens.push((await managerCall(managerUrl, server.masterKey, 'POST', '/api/v1/nodes', { name: `bench-edge-${i}` })).registration_token);
        }
      }),
    );
    const run = await steady(
      server.pid,
      `${managerUrl.replace('https', 'wss')}/ws/node`,
      tokens.map((token) => ({ registration_token: token, protocol_version: 4, software_version: '0.106.0' })),
    );
    run.dashboardLatencyMs = await dashboardLatency(managerUrl, server.masterKey);
    const received = /nodeplane_manager_frames_received_total\{type="stats"\} (\d+)/.exec(await metricsText(server.url, server.masterKey))?.[1];
    console.log(`  server counted ${fmt(Number(received ?? 0))} stats frames; clients sent ${fmt(run.fleet.sent)}`);
    closeFleet(run.fleet);
    return run;
  } finally {
    await server.stop();
  }
}

const OPERATOR_PASSWORD = 'Bench-Operator-Passw0rd';
const DASHBOARD_TICK_MS = 1000;
const LATENCY_SAMPLES = 10;

/** An operator's dashboard stream and one probe edge: the median time from a probe's stats to the update showing it. */
async function dashboardLatency(managerUrl: string, masterKey: string): Promise<number> {
  const login = await fetchLogin(managerUrl);
  const origin = managerUrl;
  const dashboard = new WebSocket(`${managerUrl.replace('https', 'wss')}/ws/dashboard`, {
    ca: tls.certPem,
    headers: { cookie: `session=${login}`, origin },
  });
  await new Promise<void>((resolve, reject) => {
    dashboard.once('open', () => resolve());
    dashboard.once('error', reject);
  });
  const token = (await managerCall(managerUrl, masterKey, 'POST', '/api/v1/nodes', { name: 'bench-probe' })).registration_token;
  const probe = new WebSocket(`${managerUrl.replace('https', 'wss')}/ws/node`, { ca: tls.certPem });
  await new Promise<void>((resolve, reject) => {
    probe.once('open', () =>
      probe.send(JSON.stringify({ type: 'auth', payload: { registration_token: token, protocol_version: 4, software_version: '0.106.0' } })),
    );
    probe.once('message', () => resolve());
    probe.once('error', reject);
  });
  const seen = new Map<number, number>();
  dashboard.on('message', (data) => {
    const update = JSON.parse(String(data)) as { nodes?: Array<{ name: string; stats: { uptime_secs?: number } | null }> };
    const uptime = update.nodes?.find((node) => node.name === 'bench-probe')?.stats?.uptime_secs;
    if (uptime !== undefined && !seen.has(uptime)) seen.set(uptime, performance.now());
  });
  const samples: number[] = [];
  try {
    for (let marker = 1_000_000; samples.length < LATENCY_SAMPLES; marker++) {
      const sentAt = performance.now();
      probe.send(statsFrame(marker));
      const deadline = sentAt + 10 * DASHBOARD_TICK_MS;
      while (!seen.has(marker) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      samples.push((seen.get(marker) ?? deadline) - sentAt);
      // Off the tick's phase, so samples spread over it.
      await new Promise((r) => setTimeout(r, DASHBOARD_TICK_MS * (0.3 + Math.random())));
    }
  } finally {
    probe.terminate();
    dashboard.terminate();
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** Signs the bench operator in on the manager listener; answers the session cookie's value. */
function fetchLogin(managerUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${managerUrl}/api/v1/auth/login`,
      { method: 'POST', ca: tls.certPem, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        const cookie = (res.headers['set-cookie'] ?? []).map((line) => /^session=([^;]+)/.exec(line)?.[1]).find(Boolean);
        res.on('end', () => (cookie ? resolve(cookie) : reject(new Error(`login: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username: 'bench', password: OPERATOR_PASSWORD }));
  });
}

async function metricsText(url: string, key: string): Promise<string> {
  return (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
}

async function baselineRun(): Promise<Run> {
  const bare = await startBareWss();
  try {
    const run = await steady(
      bare.pid,
      bare.url,
      Array.from({ length: count }, () => ({ registration_token: 'x' })),
    );
    closeFleet(run.fleet);
    return run;
  } finally {
    await bare.stop();
  }
}

try {
  const bare = await baselineRun();
  console.log(
    `baseline, ${fmt(count)} nodes → bare ws over TLS: ${fmt(bare.cpuUsPerFrame, 1)} µs CPU per stats frame (${fmt(bare.cpuPercent, 1)}% of a core), ${fmt(bare.rssPerNodeKiB, 1)} KiB RSS per node (${bare.failures})`,
  );
  const run = await nodeplaneRun();
  console.log(
    `[sqlite] ${fmt(count)} nodes → Nodeplane manager face: ${fmt(run.cpuUsPerFrame, 1)} µs CPU per stats frame (${fmt(run.cpuPercent, 1)}% of a core, ${fmt(run.cpuUsPerFrame / bare.cpuUsPerFrame, 1)}× baseline), ${fmt(run.rssPerNodeKiB, 1)} KiB RSS per node (${fmt(run.rssPerNodeKiB / bare.rssPerNodeKiB, 1)}× baseline), ${fmt(run.connected)} connected (${run.failures})`,
  );
  const failed = run.connected === count ? '' : `; ${count - run.connected} FAILED to connect`;
  report({
    name: `manager ${fmt(count)} nodes CPU per stats frame [sqlite]`,
    figure: run.cpuUsPerFrame,
    unit: 'µs',
    baseline: bare.cpuUsPerFrame,
    baselineUnit: 'µs bare ws over TLS',
    ratio: run.cpuUsPerFrame / bare.cpuUsPerFrame,
    aim: `every node connects${failed}`,
  });
  report({
    name: `manager ${fmt(count)} nodes RSS per node [sqlite]`,
    figure: run.rssPerNodeKiB,
    unit: 'KiB',
    baseline: bare.rssPerNodeKiB,
    baselineUnit: 'KiB bare ws over TLS',
    ratio: run.rssPerNodeKiB / bare.rssPerNodeKiB,
    aim: '',
  });
  console.log(
    `[sqlite] dashboard broadcast latency with ${fmt(count)} nodes streaming: median ${fmt(run.dashboardLatencyMs!, 0)} ms (tick ${DASHBOARD_TICK_MS} ms)`,
  );
  report({
    name: `manager dashboard latency with ${fmt(count)} nodes [sqlite]`,
    figure: run.dashboardLatencyMs!,
    unit: 'ms',
    baseline: DASHBOARD_TICK_MS,
    baselineUnit: 'ms broadcast tick',
    ratio: run.dashboardLatencyMs! / DASHBOARD_TICK_MS,
    aim: '≤ 1 tick',
  });
  if (run.connected !== count) process.exitCode = 1;
} finally {
  rmSync(certDir, { recursive: true, force: true });
}
