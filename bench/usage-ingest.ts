/**
 * Usage rows per second through `POST /node/usage` (batches of 1,000 entries: HTTP, auth, schema
 * validation, attribution checks, the per-minute upsert and the subscription counters, one
 * transaction per batch) against raw batched inserts of the same rows into the same engine, measured
 * in the same run. Prints the ratio; the aim is ≥ 0.5.
 *
 * Runs on SQLite, and on Postgres as well when DATABASE_URL or TEST_POSTGRES_URL is a postgres://
 * URL: a scratch database is created next to it and dropped afterwards.
 *
 *   node --import tsx bench/usage-ingest.ts [--seconds 5] [--concurrency 4] [--batch 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createScratchPostgresDatabase, type Engine, openDatabase } from '../src/server/db/dialect.ts';
import { dataKeyFromBytes, SecretBox } from '../src/server/lib/secrets.ts';
import { nowIso } from '../src/server/lib/time.ts';
import type { UsageRow } from '../src/server/modules/vpn/usage.repo.ts';
import { createCoreNode, createNodeProtocol, type VpnFixtures } from '../test/helpers/vpn.ts';
import { fmt, measureThroughput, startNodeplane } from './lib/harness.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '4' }, batch: { type: 'string', default: '1000' } },
});
const durationMs = Number(values.seconds) * 1000;
const concurrency = Number(values.concurrency);
const batch = Number(values.batch);
const START = Date.parse('2025-01-01T00:00:00Z');
const ROUNDS = 4;
const minute = (i: number) => new Date(START + i * 60_000).toISOString();

/** `count` users with one unlimited subscription each, inserted a thousand rows per statement. */
async function bulkSubscriptions(f: VpnFixtures, count: number): Promise<Array<{ userId: number; subscriptionId: number }>> {
  const now = nowIso();
  const prefix = randomBytes(4).toString('hex');
  const users = await f.db
    .insertInto('vpn_users')
    .values(
      Array.from({ length: count }, (_, i) => ({
        username: `bench-${prefix}-${i}`,
        email: null,
        telegram_id: null,
        status: 'active',
        inserted_at: now,
        updated_at: now,
      })),
    )
    .returning('id')
    .execute();
  const ssPassword = f.secrets.seal(randomBytes(16).toString('base64'));
  const subs = await f.db
    .insertInto('vpn_subscriptions')
    .values(
      users.map((u) => ({
        user_id: Number(u.id),
        link_uuid: randomUUID(),
        status: 'active',
        traffic_limit_bytes: 0,
        used_up_bytes: 0,
        used_down_bytes: 0,
        lifetime_used_bytes: 0,
        reset_strategy: 'no_reset',
        last_reset_at: null,
        expires_at: null,
        revoked_at: null,
        online: 0,
        online_at: null,
        last_node_id: null,
        ss_password_enc: ssPassword,
        inserted_at: now,
        updated_at: now,
      })),
    )
    .returning(['id', 'user_id'])
    .execute();
  return subs.map((s) => ({ userId: Number(s.user_id), subscriptionId: Number(s.id) }));
}

async function run(engine: Engine): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-bench-usage-'));
  const pgAdmin = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : process.env.TEST_POSTGRES_URL;
  const scratch =
    engine === 'sqlite'
      ? { url: `sqlite:${path.join(dir, 'bench.db')}`, drop: async () => {} }
      : await createScratchPostgresDatabase(pgAdmin!, `nodeplane_bench_${randomBytes(6).toString('hex')}`);
  const server = await startNodeplane({ DATABASE_URL: scratch.url });
  const database = openDatabase(scratch.url, { poolSize: concurrency + 1 });
  try {
    // One node per connection, each with two protocols and `batch` users holding a subscription:
    // every entry of a push is attributed and counted, like a busy node's minute, and concurrent
    // pushes come from different nodes as they do in a fleet.
    const f: VpnFixtures = { db: database.db, secrets: new SecretBox(dataKeyFromBytes(randomBytes(32))) };
    const nodes: Array<{ authKey: string; template: string; rows: (at: string) => UsageRow[] }> = [];
    for (let n = 0; n < concurrency; n++) {
      const node = await createCoreNode(f);
      const protocols = [await createNodeProtocol(f, node.nodeId, { protocol: 'vless' }), await createNodeProtocol(f, node.nodeId, { protocol: 'trojan' })];
      const subscriptions = await bulkSubscriptions(f, batch);
      const entry = (s: { userId: number; subscriptionId: number }, j: number) => ({
        userId: s.userId,
        subscriptionId: s.subscriptionId,
        nodeProtocolId: protocols[j % 2]!.id,
        bytesUp: 1000 + j,
        bytesDown: 5000 + j,
      });
      nodes.push({
        authKey: node.authKey,
        template: JSON.stringify({ entries: subscriptions.map((s, j) => ({ ...entry(s, j), recordedAt: '@MINUTE@' })) }),
        rows: (at) =>
          subscriptions.map((s, j) => ({
            node_id: node.nodeId,
            node_protocol_id: protocols[j % 2]!.id,
            user_id: s.userId,
            subscription_id: s.subscriptionId,
            recorded_at: at,
            bytes_up: 1000 + j,
            bytes_down: 5000 + j,
          })),
      });
    }

    // Baseline: the same rows as plain multi-row INSERTs, one transaction per batch, on their own
    // minutes. The two alternate in short phases: inserts slow down as the indexes outgrow the cache,
    // so running one after the other would hand the first a smaller table.
    let baselineRows = 0;
    let baselineMs = 0;
    let ingestRequests = 0;
    let ingestMs = 0;
    let errors = 0;
    let next = 0;
    let pushed = 0;
    const phaseMs = durationMs / ROUNDS;
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() - started < phaseMs) {
            const i = next++;
            const rows = nodes[i % nodes.length]!.rows(minute(1_000_000 + i));
            await database.db.transaction().execute(async (trx) => {
              await trx.insertInto('usage_records').values(rows).execute();
            });
            baselineRows += rows.length;
          }
        }),
      );
      baselineMs += Date.now() - started;

      // Ingest: each push is one minute of every subscription of one node.
      const ingestStarted = Date.now();
      const result = await measureThroughput(
        server.url,
        () => {
          const i = pushed++;
          const node = nodes[i % nodes.length]!;
          const body = node.template.replaceAll('@MINUTE@', minute(i));
          return {
            method: 'POST',
            path: '/node/usage',
            headers: { 'x-node-auth-key': node.authKey, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
            body,
          };
        },
        { durationMs: phaseMs, concurrency },
      );
      const elapsed = Date.now() - ingestStarted;
      ingestMs += elapsed;
      ingestRequests += result.perSecond * (elapsed / 1000);
      errors += result.errors;
    }
    const baselinePerSecond = baselineRows / (baselineMs / 1000);
    const requestsPerSecond = ingestRequests / (ingestMs / 1000);
    const ingestPerSecond = requestsPerSecond * batch;

    // Every accepted push must have landed whole: rows and counters agree.
    const stored = await database.db
      .selectFrom('usage_records')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('recorded_at', '<', minute(1_000_000))
      .executeTakeFirstOrThrow();
    const counted = await database.db
      .selectFrom('vpn_subscriptions')
      .select((eb) => eb.fn.sum('used_up_bytes').as('up'))
      .executeTakeFirstOrThrow();
    const pushes = Number(stored.n) / batch;
    const expectedUp = pushes * Array.from({ length: batch }, (_, j) => 1000 + j).reduce((a, b) => a + b, 0);

    console.log(`[${engine}] raw batched inserts (${batch} rows/statement, ${concurrency} writers): ${fmt(baselinePerSecond)} rows/s`);
    console.log(
      `[${engine}] POST /node/usage (${batch} entries/request, ${concurrency} nodes pushing at once): ${fmt(ingestPerSecond)} rows/s (${fmt(requestsPerSecond, 1)} req/s, ${errors} errors)`,
    );
    console.log(
      `[${engine}] check: ${fmt(Number(stored.n))} rows stored by ${fmt(pushes, 2)} pushes, counters ${Number(counted.up) === expectedUp ? 'agree' : `DISAGREE (${counted.up} vs ${expectedUp})`}`,
    );
    console.log(`[${engine}] ratio: ${(ingestPerSecond / baselinePerSecond).toFixed(2)} (aim ≥ 0.5)`);
    report({
      name: `usage-ingest [${engine}]`,
      figure: ingestPerSecond,
      unit: 'rows/s',
      baseline: baselinePerSecond,
      baselineUnit: 'rows/s raw inserts',
      ratio: ingestPerSecond / baselinePerSecond,
      aim: 'ratio ≥ 0.5',
    });
  } finally {
    await database.close();
    await server.stop();
    await scratch.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await run('sqlite');
const pg = [process.env.DATABASE_URL, process.env.TEST_POSTGRES_URL].find((u) => u?.startsWith('postgres'));
if (pg) await run('postgres');
else console.log('[postgres] skipped: set DATABASE_URL or TEST_POSTGRES_URL to a postgres:// URL');
