/**
 * Authenticated health reports per second (`PATCH /api/v1/agents/nodes/me/health_check` from many
 * registered agents, status unchanged: the coalesced path) against a bare node:http hello-world on
 * the same machine, measured in the same run. Prints the ratio; the aim is ≥ 0.5.
 *
 *   node --import tsx bench/heartbeat.ts [--seconds 5] [--agents 200] [--concurrency 64]
 */
import { parseArgs } from 'node:util';
import { fmt, measureThroughput, startBareHttp, startNodeplane } from './lib/harness.ts';
import { registerAgents } from './lib/agents.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, agents: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '64' } },
});
const durationMs = Number(values.seconds) * 1000;
const concurrency = Number(values.concurrency);

const bare = await startBareHttp();
const baseline = await measureThroughput(bare.url, () => ({ method: 'GET', path: '/' }), { durationMs, concurrency });
await bare.stop();

const server = await startNodeplane(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {});
try {
  const agents = await registerAgents(server.url, server.masterKey, Number(values.agents));
  const body = JSON.stringify({ status: 'healthy' });
  const result = await measureThroughput(
    server.url,
    (i) => ({
      method: 'PATCH',
      path: '/api/v1/agents/nodes/me/health_check',
      headers: { authorization: `Bearer ${agents[i % agents.length]!.token}`, 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    }),
    { durationMs, concurrency },
  );
  console.log(`bare node:http hello-world: ${fmt(baseline.perSecond)} req/s`);
  console.log(
    `health reports (${agents.length} agents, ${process.env.DATABASE_URL ? 'postgres' : 'sqlite'}): ${fmt(result.perSecond)} req/s, ${result.errors} errors`,
  );
  console.log(`ratio: ${(result.perSecond / baseline.perSecond).toFixed(2)} (aim ≥ 0.5)`);
  report({
    name: `heartbeat [${process.env.DATABASE_URL ? 'postgres' : 'sqlite'}]`,
    figure: result.perSecond,
    unit: 'health reports/s',
    baseline: baseline.perSecond,
    baselineUnit: 'req/s bare node:http',
    ratio: result.perSecond / baseline.perSecond,
    aim: 'ratio ≥ 0.5',
  });
} finally {
  await server.stop();
}
