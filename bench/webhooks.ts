/**
 * Webhook deliveries per second to a loopback receiver, against bare keep-alive HTTP POSTs of a
 * same-sized body from this process to the same receiver at the same concurrency, measured in the
 * same run. Each event fans out to `--webhooks` webhooks so the figure is bound by delivery, not by
 * how fast the bench can make events (enrollment-key verifications through the public agent API).
 * Every delivery is a durable job: enqueued in the relay's transaction, claimed with a lease,
 * decrypted, SSRF-pinned, signed, POSTed and deleted.
 *
 *   node --import tsx bench/webhooks.ts [--events 2000] [--webhooks 10] [--concurrency 8]
 *   node --import tsx bench/webhooks.ts --postgres postgres://postgres@127.0.0.1:5432/postgres
 *
 * With --postgres the server gets a scratch database created next to the given one and dropped
 * afterwards, so the bench never writes into a database someone else uses.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createScratchPostgresDatabase } from '../src/server/db/dialect.ts';
import { adminCall } from './lib/agents.ts';
import { report } from './lib/report.ts';
import { fmt, measureThroughput, startNodeplane } from './lib/harness.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000' },
    webhooks: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '5' },
    postgres: { type: 'string' },
  },
});
const events = Number(values.events);
const webhooks = Number(values.webhooks);
const concurrency = Number(values.concurrency);
const expected = events * webhooks;

/** A receiver in its own process: counts POSTs, remembers the first and last arrival. */
async function startReceiver(): Promise<{
  url: string;
  stats(): Promise<{ count: number; first: number; last: number }>;
  reset(): Promise<void>;
  stop(): void;
}> {
  const source = `
    let count = 0, first = 0, last = 0;
    const server = require('http').createServer((q, s) => {
      if (q.method === 'GET') { s.setHeader('content-type', 'application/json'); return s.end(JSON.stringify({ count, first, last })); }
      if (q.method === 'DELETE') { count = 0; first = 0; last = 0; return s.end(); }
      q.resume();
      q.on('end', () => { const now = Date.now(); if (!count) first = now; count++; last = now; s.end('ok'); });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  const url = `http://127.0.0.1:${port}`;
  const call = (method: string) =>
    new Promise<string>((resolve, reject) => {
      http
        .request(`${url}/stats`, { method }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        })
        .on('error', reject)
        .end();
    });
  return {
    url,
    stats: async () => JSON.parse(await call('GET')),
    reset: async () => void (await call('DELETE')),
    stop: () => child.kill('SIGTERM'),
  };
}

const receiver = await startReceiver();
const engine = values.postgres ? 'postgres' : 'sqlite';
const scratch = values.postgres ? await createScratchPostgresDatabase(values.postgres, `nodeplane_bench_${randomBytes(6).toString('hex')}`) : null;
try {
  // A body the size of a real envelope (edge.node.registered is ~700 bytes).
  const body = JSON.stringify({ specversion: '1.0', id: randomBytes(16).toString('hex'), data: 'x'.repeat(600) });
  const baseline = await measureThroughput(
    receiver.url,
    () => ({ method: 'POST', path: '/hook', headers: { 'content-type': 'application/cloudevents+json', 'content-length': String(body.length) }, body }),
    { durationMs: Number(values.seconds) * 1000, concurrency },
  );
  await receiver.reset();

  const server = await startNodeplane({
    WEBHOOK_ALLOW_PRIVATE_IPS: 'true',
    WEBHOOK_CONCURRENCY: String(concurrency),
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
  });
  try {
    const secret = randomBytes(32).toString('hex');
    for (let i = 0; i < webhooks; i++) {
      await adminCall(server.url, server.masterKey, 'POST', '/api/v1/webhooks', {
        url: `${receiver.url}/hook/${i}`,
        secret,
        subscribed_events: ['edge.enrollment_key.verified'],
      });
    }
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < events) {
          next++;
          await adminCall(server.url, '', 'POST', '/api/v1/agents/enrollment_keys/verify', { key: `bench-${next}` });
        }
      }),
    );
    const madeMs = Date.now() - started;
    const deadline = Date.now() + 600_000;
    let stats = await receiver.stats();
    while (stats.count < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await receiver.stats();
    }
    const seconds = (stats.last - stats.first) / 1000;
    const perSecond = stats.count / Math.max(seconds, 0.001);
    console.log(`bare keep-alive POSTs from one process (concurrency ${concurrency}): ${fmt(baseline.perSecond)} req/s`);
    console.log(`events made: ${fmt(events)} in ${fmt(madeMs)} ms (${fmt(events / (madeMs / 1000))}/s), ${webhooks} webhooks each`);
    console.log(
      `webhook deliveries (${engine}, concurrency ${concurrency}): ${fmt(stats.count)} of ${fmt(expected)} in ${fmt(seconds, 2)} s = ${fmt(perSecond)} deliveries/s`,
    );
    console.log(`ratio: ${(perSecond / baseline.perSecond).toFixed(2)}`);
    report({
      name: `webhooks [${engine}]`,
      figure: perSecond,
      unit: 'deliveries/s',
      baseline: baseline.perSecond,
      baselineUnit: 'bare POSTs/s',
      ratio: perSecond / baseline.perSecond,
      aim: stats.count === expected ? '' : `only ${stats.count} of ${expected} delivered`,
    });
  } finally {
    await server.stop();
  }
} finally {
  receiver.stop();
  await scratch?.drop();
}
