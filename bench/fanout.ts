/**
 * Command fan-out latency: N emulated agents hold live channels to a Nodeplane child process; the
 * clock starts before `POST /api/v1/commands` targeting all nodes and stops when every agent has
 * received its `execution` frame. That path is the HTTP request, the command insert, the
 * `execution_creation` job (resolve targeting, insert N executions and N events), and the pushes.
 * Aim: under 1 s at 10,000 agents.
 *
 * Baseline, measured in the same run with the same client process and socket count: a bare `ws`
 * server (no database, no auth, nothing but the transport) that, on one HTTP request, writes N
 * distinct frames of the same size as an execution frame, one to each connected socket. It is the
 * floor for "tell N sockets something"; the ratio (fan-out / baseline) is what Nodeplane adds on
 * top of the wire.
 *
 *   node --import tsx bench/fanout.ts [--agents 1000,10000] [--rounds 3]
 *   DATABASE_URL=postgres://… node --import tsx bench/fanout.ts
 *
 * With DATABASE_URL the server runs on Postgres, in a scratch database created next to the one
 * named (and dropped afterwards) for each N.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { fmt, startNodeplane } from './lib/harness.ts';
import { adminCall, registerAgents } from './lib/agents.ts';
import { report } from './lib/report.ts';
import { createScratchPostgresDatabase } from '../src/server/db/dialect.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '1000,10000' }, rounds: { type: 'string', default: '3' } } });
const counts = values.agents!.split(',').map(Number);
const rounds = Number(values.rounds);
const engine = process.env.DATABASE_URL ? 'postgres' : 'sqlite';

interface Fleet {
  sockets: WebSocket[];
  /** Resolves when every socket received one frame matching `match` after this call. */
  expectAll(match: (frame: any) => boolean): Promise<void>;
  close(): void;
}

/** Opens `tokens.length` channels (200 at a time) and waits for each one's first frame. */
async function openFleet(url: string, tokens: Array<string | null>): Promise<Fleet> {
  const sockets: WebSocket[] = [];
  let handler: ((frame: any) => void) | null = null;
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < tokens.length) {
        const token = tokens[next++]!;
        await new Promise<void>((resolve, reject) => {
          const socket = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
          sockets.push(socket);
          socket.once('message', () => {
            socket.on('message', (data) => handler?.(JSON.parse(data.toString())));
            resolve();
          });
          socket.once('error', reject);
        });
      }
    }),
  );
  return {
    sockets,
    expectAll(match) {
      return new Promise((resolve) => {
        let left = sockets.length;
        handler = (frame) => {
          if (match(frame) && --left === 0) {
            handler = null;
            resolve();
          }
        };
      });
    },
    close() {
      for (const s of sockets) s.terminate();
    },
  };
}

/** The transport-only baseline server, in its own process like Nodeplane. */
async function startBareWs(frameBytes: number): Promise<{ url: string; stop(): Promise<void> }> {
  const source = `
    const http = require('http');
    const { WebSocketServer } = require('ws');
    const pad = 'x'.repeat(Math.max(0, ${frameBytes} - JSON.stringify({ type: 'execution', n: 10000, pad: '' }).length));
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        let i = 0;
        for (const client of wss.clients) client.send(JSON.stringify({ type: 'execution', n: i++, pad }));
        res.end('ok');
      });
    });
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.send('{"type":"welcome"}'));
    server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function post(url: string, body = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end(body);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const count of counts) {
  // ── Nodeplane ──
  const scratch = process.env.DATABASE_URL
    ? await createScratchPostgresDatabase(process.env.DATABASE_URL, `nodeplane_fanout_${randomBytes(4).toString('hex')}`)
    : null;
  const server = await startNodeplane({ AGENT_PING_INTERVAL_MS: '60000', ...(scratch ? { DATABASE_URL: scratch.url } : {}) });
  const fanout: number[] = [];
  const answered: number[] = [];
  let frameBytes = 0;
  try {
    const agents = await registerAgents(server.url, server.masterKey, count);
    const fleet = await openFleet(
      `${server.url.replace('http', 'ws')}/api/v1/agents/stream`,
      agents.map((a) => a.token),
    );
    await sleep(1000);
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      const received = fleet.expectAll((frame) => {
        if (frame.type !== 'execution') return false;
        frameBytes ||= JSON.stringify(frame).length;
        return true;
      });
      await adminCall(server.url, server.masterKey, 'POST', '/api/v1/commands', { command_text: `echo round ${round}`, targeting: { type: 'all' } });
      answered.push(performance.now() - started);
      await received;
      fanout.push(performance.now() - started);
      await sleep(500);
    }
    fleet.close();
  } finally {
    await server.stop();
    await scratch?.drop();
  }

  // ── Baseline ──
  const bare = await startBareWs(frameBytes);
  const floor: number[] = [];
  try {
    const fleet = await openFleet(bare.url.replace('http', 'ws'), Array(count).fill(null));
    await sleep(1000);
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      const received = fleet.expectAll((frame) => frame.type === 'execution');
      await post(`${bare.url}/broadcast`);
      await received;
      floor.push(performance.now() - started);
      await sleep(200);
    }
    fleet.close();
  } finally {
    await bare.stop();
  }

  const f = median(fanout);
  const b = median(floor);
  console.log(`N = ${fmt(count)} connected agents (${engine}, ${rounds} rounds, medians; frame ${frameBytes} B)`);
  console.log(`  bare ws server writing N frames (baseline): ${fmt(b, 1)} ms`);
  console.log(`  POST /api/v1/commands answered (201):       ${fmt(median(answered), 1)} ms`);
  console.log(
    `  POST → every agent holds its execution:     ${fmt(f, 1)} ms  [${fanout.map((x) => fmt(x, 0)).join(', ')}]${count >= 10_000 ? ' (aim < 1000 ms)' : ''}`,
  );
  console.log(`  ratio to baseline: ${(f / b).toFixed(1)}×`);
  report({
    name: `fanout ${fmt(count)} [${engine}]`,
    figure: f,
    unit: 'ms POST → all hold it',
    baseline: b,
    baselineUnit: 'ms bare ws, N frames',
    ratio: f / b,
    aim: '< 1000 ms at 10,000 agents',
  });
}
