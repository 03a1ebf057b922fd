/**
 * Memory and CPU of the agent's Core role (and of its v2ray core) with 10,000 VMess users in the
 * core's config, against a baseline measured in the same run: the same agent with an empty
 * inbound. This process IS the agent (CoreAgent: controller + accountant + journal + pushes); a
 * child process plays the world: the fake Core server, a client-side v2ray with one SOCKS inbound
 * per active user, and a traffic loop through them, so none of that is billed to the agent.
 *
 *   node --import tsx bench/agent-core.ts [--users 10000] [--active 500] [--seconds 30]
 *
 * Needs Debian's v2ray at /usr/bin/v2ray (NODEPLANE_TEST_V2RAY to override).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { CoreRoleConfig } from '../src/agent/shared/config.ts';
import { CoreAgent } from '../src/agent/core/core-agent.ts';
import { FakeCoreServer } from '../src/agent/testing/fake-core-server.ts';
import { report } from './lib/report.ts';
import { clientConfig, freePort, HAVE_V2RAY, socksHttp, startByteServer, startV2ray, V2RAY_BINARY, vmessOutbound } from '../src/agent/testing/test-support.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    active: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '30' },
    world: { type: 'boolean', default: false },
  },
});

type Msg =
  | { type: 'config'; revision?: number; users: string[]; vmessPort: number; extraRule?: boolean }
  | { type: 'traffic'; users: string[]; vmessPort: number }
  | { type: 'stop' };

// ---------------------------------------------------------------------------------------------
// The world (child process): fake Core server, client v2ray, traffic.
// ---------------------------------------------------------------------------------------------
async function world(): Promise<void> {
  const server = new FakeCoreServer();
  await server.listen();
  server.codes.add('bench');
  const bytes = await startByteServer();
  let stopClient: (() => Promise<void>) | null = null;
  let loop: NodeJS.Timeout | null = null;
  let requests = 0;
  let failures = 0;
  process.on('message', async (msg: Msg) => {
    if (msg.type === 'config') {
      const clientMap = Object.fromEntries(msg.users.map((id, i) => [id, { userId: i + 1, subscriptionId: i + 1 }]));
      const revision = server.setConfig({
        clientMap,
        services: {
          xray: {
            inbounds: [
              {
                tag: 'np-1',
                listen: '127.0.0.1',
                port: msg.vmessPort,
                protocol: 'vmess',
                settings: { clients: msg.users.map((id) => ({ id, email: `${id}@np-1` })) },
              },
            ],
            outbounds: [{ tag: 'direct', protocol: 'freedom' }],
            routing: { rules: msg.extraRule ? [{ type: 'field', port: '1-2', outboundTag: 'direct' }] : [] },
          },
        },
      });
      process.send!({ type: 'config', revision });
    } else if (msg.type === 'traffic') {
      // One SOCKS inbound per active user, each routed to a VMess outbound with that user's id.
      const ports = await Promise.all(msg.users.map(() => freePort()));
      const base = clientConfig(ports[0]!, vmessOutbound(msg.vmessPort, msg.users[0]!));
      const config = {
        ...base,
        inbounds: ports.map((port, i) => ({ tag: `s${i}`, listen: '127.0.0.1', port, protocol: 'socks', settings: { auth: 'noauth', udp: false } })),
        outbounds: msg.users.map((id, i) => ({ tag: `o${i}`, ...vmessOutbound(msg.vmessPort, id) })),
        routing: { rules: ports.map((_, i) => ({ type: 'field', inboundTag: [`s${i}`], outboundTag: `o${i}` })) },
      };
      const client = await startV2ray(config, [ports.at(-1)!]);
      stopClient = client.stop;
      // Warm-up: every active user once (creates its counters in the node core).
      for (let i = 0; i < ports.length; i += 50) {
        await Promise.all(ports.slice(i, i + 50).map((p) => socksHttp(p, bytes.port, 'GET', '/bytes/1000').catch(() => failures++)));
      }
      // Then 50 requests a second, rotating: each active user has traffic every ~10 s.
      let next = 0;
      loop = setInterval(() => {
        for (let k = 0; k < 50; k++) {
          const p = ports[next++ % ports.length]!;
          requests++;
          socksHttp(p, bytes.port, 'GET', '/bytes/20000').catch(() => failures++);
        }
      }, 1_000);
      process.send!({ type: 'traffic' });
    } else if (msg.type === 'stop') {
      if (loop) clearInterval(loop);
      await stopClient?.();
      await bytes.close();
      const usage = server.usageByUser();
      process.send!({ type: 'stopped', requests, failures, usageUsers: usage.size, pushes: server.counted.length });
      await server.close();
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', url: server.url });
}

// ---------------------------------------------------------------------------------------------
// The agent (this process) and the measurements.
// ---------------------------------------------------------------------------------------------
const CLK_TCK = 100;

function procStat(pid: number): { cpuTicks: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuTicks, rssKb };
}

interface Sample {
  agentRssMb: { avg: number; max: number };
  agentCpuPct: number;
  agentHeapMb: number;
  coreRssMb: { avg: number; max: number };
  coreCpuPct: number;
}

async function sample(corePid: () => number | null, seconds: number): Promise<Sample> {
  const agentRss: number[] = [];
  const coreRss: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const pid0 = corePid()!;
  const core0 = procStat(pid0);
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    agentRss.push(process.memoryUsage().rss / 1048576);
    const pid = corePid();
    if (pid) coreRss.push(procStat(pid).rssKb / 1024);
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const pid1 = corePid();
  const core1 = pid1 === pid0 ? procStat(pid0) : core0;
  const stats = (xs: number[]) => ({ avg: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), max: Math.max(...xs) });
  return {
    agentRssMb: stats(agentRss),
    agentCpuPct: ((cpu.user + cpu.system) / 1e6 / wallS) * 100,
    agentHeapMb: process.memoryUsage().heapUsed / 1048576,
    coreRssMb: stats(coreRss),
    coreCpuPct: ((core1.cpuTicks - core0.cpuTicks) / CLK_TCK / wallS) * 100,
  };
}

async function main(): Promise<void> {
  if (!HAVE_V2RAY) {
    console.error(`${V2RAY_BINARY} is missing (apt-get install v2ray)`);
    process.exit(2);
  }
  const userCount = Number(values.users);
  const activeCount = Math.min(Number(values.active), userCount);
  const seconds = Number(values.seconds);

  const child: ChildProcess = fork(new URL(import.meta.url).pathname, ['--world'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m) => {
    inbox.push(m as Record<string, unknown>);
    waiters.splice(0).forEach((w) => w());
  });
  const receive = async (type: string) => {
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const ask = async (msg: Msg, reply: string) => {
    child.send(msg);
    return receive(reply);
  };
  const { url } = (await receive('ready')) as { url: string };

  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  const vmessPort = await freePort();
  const dirs: string[] = [];
  const role = (): CoreRoleConfig => ({
    serverUrl: url,
    code: 'bench',
    flavour: 'v2ray',
    binary: V2RAY_BINARY,
    nodeName: 'bench',
    nodeHost: 'bench.example',
    nodeIp: '127.0.0.1',
    nodeRegion: '',
    heartbeatIntervalMs: 15_000,
    statsIntervalMs: 10_000,
    usagePushIntervalMs: 20_000,
    offlineAfterMs: 120_000,
    telemtBinary: null,
  });
  async function runAgent(users: string[]) {
    const dir = await mkdtemp(path.join(tmpdir(), 'np-bench-core-'));
    dirs.push(dir);
    const { revision } = (await ask({ type: 'config', users, vmessPort }, 'config')) as { revision: number };
    const agent = new CoreAgent(role(), dir, { logger });
    const applied = new Promise<number>((resolve) => {
      const t = Date.now();
      agent.events.on('applied', (rev) => rev === revision && resolve(Date.now() - t));
    });
    void agent.run().catch((e) => console.error(e));
    return { agent, applyMs: await applied };
  }

  // Baseline: the same agent, nothing to serve.
  const base = await runAgent([]);
  global.gc?.();
  const baseline = await sample(() => base.agent.controller.pid, seconds);
  await base.agent.stop();

  // 10k users, some of them active.
  const users = Array.from({ length: userCount }, () => randomUUID());
  const big = await runAgent(users);
  await ask({ type: 'traffic', users: users.slice(0, activeCount), vmessPort }, 'traffic');
  const loaded = await sample(() => big.agent.controller.pid, seconds);

  // Apply costs at 10k: replace 100 idle users (runtime), then a routing change (restart). Timed
  // from the fetch to the applied event (no heartbeat wait).
  const swapped = [...users.slice(0, -100), ...Array.from({ length: 100 }, () => randomUUID())];
  const timeApply = async (msg: Msg) => {
    const { revision } = (await ask(msg, 'config')) as { revision: number };
    const done = new Promise<string>((resolve) => big.agent.events.on('applied', (rev, r) => rev === revision && resolve(r.mode)));
    const t = Date.now();
    await big.agent.sync();
    const mode = await done;
    return { mode, ms: Date.now() - t };
  };
  const usersApply = await timeApply({ type: 'config', users: swapped, vmessPort });
  const restartApply = await timeApply({ type: 'config', users: swapped, vmessPort, extraRule: true });
  await big.agent.stop();
  const world = (await ask({ type: 'stop' }, 'stopped')) as { requests: number; failures: number; usageUsers: number; pushes: number };
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));

  const f = (n: number) => n.toFixed(1);
  const row = (name: string, s: Sample) =>
    `${name.padEnd(24)} agent RSS ${f(s.agentRssMb.avg)} MB (max ${f(s.agentRssMb.max)}), heap ${f(s.agentHeapMb)} MB, CPU ${f(s.agentCpuPct)} %  |  v2ray RSS ${f(s.coreRssMb.avg)} MB (max ${f(s.coreRssMb.max)}), CPU ${f(s.coreCpuPct)} %`;
  console.log(`Core role, v2ray 4.34, ${seconds} s windows, stats every 10 s, usage push every 20 s, heartbeat every 15 s`);
  console.log(row('baseline (0 users)', baseline));
  console.log(row(`${userCount} users, ${activeCount} active`, loaded));
  console.log(
    `ratio to baseline: agent RSS ×${(loaded.agentRssMb.avg / baseline.agentRssMb.avg).toFixed(2)}, v2ray RSS ×${(loaded.coreRssMb.avg / baseline.coreRssMb.avg).toFixed(2)}`,
  );
  console.log(`first apply (validate + start) of ${userCount} users: ${big.applyMs} ms (baseline empty config: ${base.applyMs} ms)`);
  console.log(`replace 100 of ${userCount} users: ${usersApply.mode} in ${usersApply.ms} ms; routing change: ${restartApply.mode} in ${restartApply.ms} ms`);
  console.log(`traffic: ${world.requests} requests (${world.failures} failed); usage reached Core for ${world.usageUsers} users in ${world.pushes} pushes`);
  report({
    name: `agent-core ${userCount} users`,
    figure: loaded.agentRssMb.avg,
    unit: 'MB agent RSS',
    baseline: baseline.agentRssMb.avg,
    baselineUnit: 'MB, 0 users',
    ratio: loaded.agentRssMb.avg / baseline.agentRssMb.avg,
    aim: '',
  });
}

if (values.world) await world();
else await main();
