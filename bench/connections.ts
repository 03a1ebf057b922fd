/**
 * Memory per idle connected agent: registers N agents in a Nodeplane child process, opens N live
 * channels from this process, lets them settle, and divides the server's RSS growth by N. The
 * baseline is the same server's RSS with the agents registered but not connected, measured in the
 * same run. Aim: ≤ 20 KB per connection at 10,000.
 *
 *   node --import tsx bench/connections.ts [--agents 10000]
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { fmt, rssBytes, startNodeplane } from './lib/harness.ts';
import { registerAgents } from './lib/agents.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000' } } });
const count = Number(values.agents);

const server = await startNodeplane({ AGENT_PING_INTERVAL_MS: '30000', ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}) });
const sockets: WebSocket[] = [];
try {
  const agents = await registerAgents(server.url, server.masterKey, count);
  await sleep(2000);
  const before = rssBytes(server.pid);
  const wsUrl = `${server.url.replace('http', 'ws')}/api/v1/agents/stream`;
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < agents.length) {
        const agent = agents[next++]!;
        await new Promise<void>((resolve, reject) => {
          const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${agent.token}` }, perMessageDeflate: false });
          sockets.push(socket);
          socket.once('message', () => resolve());
          socket.once('error', reject);
        });
      }
    }),
  );
  await sleep(3000);
  const after = rssBytes(server.pid);
  const perConnection = (after - before) / count;
  console.log(`server RSS with ${fmt(count)} agents registered, none connected (baseline): ${fmt(before / 2 ** 20, 1)} MiB`);
  console.log(`server RSS with ${fmt(count)} idle live channels: ${fmt(after / 2 ** 20, 1)} MiB`);
  console.log(`memory per idle connected agent: ${fmt(perConnection / 1024, 1)} KB (aim ≤ 20 KB); ratio to baseline RSS: ${(after / before).toFixed(2)}`);
  report({
    name: `connections ${fmt(count)} [${process.env.DATABASE_URL ? 'postgres' : 'sqlite'}]`,
    figure: perConnection / 1024,
    unit: 'KB/idle agent',
    baseline: before / 2 ** 20,
    baselineUnit: 'MiB RSS, none connected',
    ratio: after / before,
    aim: '≤ 20 KB/agent at 10,000 (ratio = RSS connected / none)',
  });
} finally {
  for (const s of sockets) s.terminate();
  await server.stop();
}
