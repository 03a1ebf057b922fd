/**
 * Config rendering and revision bumps of Core nodes (specs/core-node.md §2–§4), in process on a
 * scratch database (SQLite, or DATABASE_URL=postgres://…):
 *
 *  1. one node with 10,000 subscriptions on five protocols (vless+REALITY, vmess+ws, trojan+TLS,
 *     Shadowsocks-2022, MTProto): time to serve its config (read + render + hash + sealed secrets),
 *     against JSON.stringify of the same config object measured in the same run;
 *  2. 1,000 nodes, 10,000 subscriptions granted on 3 nodes each: time for one subscription change
 *     to bump exactly its nodes, against re-rendering the whole fleet (what a change would cost
 *     without affected sets).
 *
 *   node --import tsx bench/config-render.ts [--subscriptions 10000] [--nodes 1000] [--changes 50]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { createScratchPostgresDatabase, openDatabase } from '../src/server/db/dialect.ts';
import { migrateToLatest } from '../src/server/db/migrate.ts';
import type { Database } from '../src/server/db/schema.ts';
import { Outbox } from '../src/server/events/outbox.ts';
import { dataKeyFromBytes, SecretBox } from '../src/server/lib/secrets.ts';
import type { Principal } from '../src/server/principal.ts';
import { newSsSecret } from '../src/server/modules/vpn/credentials.ts';
import { CoreNodeAdminService } from '../src/server/modules/vpn/core-node-admin.service.ts';
import { SecretCache, servedConfig } from '../src/server/modules/vpn/node-config.ts';
import { ProtocolService } from '../src/server/modules/vpn/protocol.service.ts';
import { loadRenderInputs } from '../src/server/modules/vpn/render-input.ts';
import { configHash, configText, renderNodeConfig } from '../src/server/modules/vpn/render.ts';
import { bumpNodes } from '../src/server/modules/vpn/revisions.ts';
import { SubscriptionService } from '../src/server/modules/vpn/subscription.service.ts';
import { fmt } from './lib/harness.ts';
import { report } from './lib/report.ts';

const { values } = parseArgs({
  options: { subscriptions: { type: 'string', default: '10000' }, nodes: { type: 'string', default: '1000' }, changes: { type: 'string', default: '50' } },
});
const SUBSCRIPTIONS = Number(values.subscriptions);
const NODES = Number(values.nodes);
const CHANGES = Number(values.changes);

async function scratch() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-bench-render-'));
  const pg = process.env.DATABASE_URL?.startsWith('postgres')
    ? await createScratchPostgresDatabase(process.env.DATABASE_URL, `nodeplane_bench_${randomBytes(4).toString('hex')}`)
    : null;
  const handle = openDatabase(pg ? pg.url : `sqlite:${path.join(dir, 'bench.db')}`);
  await migrateToLatest(handle.db);
  return {
    db: handle.db,
    engine: handle.engine,
    async close() {
      await handle.close();
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const MASTER: Principal = { type: 'api-key', key: 'master' };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(runs: number, fn: () => unknown): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

/** Users and subscriptions in bulk (the service path is measured elsewhere; setup just needs rows). */
async function insertSubscriptions(db: Kysely<Database>, box: SecretBox, count: number): Promise<number[]> {
  const now = new Date().toISOString();
  const ids: number[] = [];
  for (let i = 0; i < count; i += 500) {
    const n = Math.min(500, count - i);
    const users = await db
      .insertInto('vpn_users')
      .values(
        Array.from({ length: n }, (_, j) => ({
          username: `u${i + j}-${randomBytes(3).toString('hex')}`,
          email: null,
          telegram_id: null,
          status: 'active',
          inserted_at: now,
          updated_at: now,
        })),
      )
      .returning('id')
      .execute();
    const subs = await db
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
          ss_password_enc: box.seal(newSsSecret()),
          inserted_at: now,
          updated_at: now,
        })),
      )
      .returning('id')
      .execute();
    ids.push(...subs.map((s) => Number(s.id)));
  }
  return ids;
}

async function grant(db: Kysely<Database>, pairs: Array<[number, number]>) {
  for (let i = 0; i < pairs.length; i += 1000) {
    await db
      .insertInto('subscription_protocols')
      .values(pairs.slice(i, i + 1000).map(([subscription_id, node_protocol_id]) => ({ subscription_id, node_protocol_id })))
      .execute();
  }
}

const box = new SecretBox(dataKeyFromBytes(randomBytes(32)));

// ── 1. One node, 10,000 subscriptions ──────────────────────────────────────────────────────────
{
  const { db, engine, close } = await scratch();
  try {
    const outbox = new Outbox(db, 'bench', () => {});
    const nodes = new CoreNodeAdminService(db, outbox, { offlineAfterMs: 90_000 });
    const protocols = new ProtocolService(db, box);
    const node = await nodes.create({ name: 'big', host: 'big.vpn.example.com' });
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const ps = [
      await protocols.create(MASTER, {
        node_id: node.id,
        protocol: 'vless',
        port: 443,
        security: 'reality',
        flow: 'xtls-rprx-vision',
        reality_settings: { target: 'www.example.com:443', server_names: ['www.example.com'], short_ids: ['', 'abcd'] },
      }),
      await protocols.create(MASTER, { node_id: node.id, protocol: 'vmess', port: 8080, transport: 'ws', transport_settings: { path: '/vm' } }),
      await protocols.create(MASTER, {
        node_id: node.id,
        protocol: 'trojan',
        port: 8443,
        security: 'tls',
        tls_settings: { certificate: pem, key: '-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----' },
      }),
      await protocols.create(MASTER, { node_id: node.id, protocol: 'shadowsocks', port: 8388, ss_method: '2022-blake3-aes-256-gcm' }),
      await protocols.create(MASTER, { node_id: node.id, protocol: 'mtproto', port: 993, mtproto_settings: { tls_domain: 'www.google.com' } }),
    ];
    const subs = await insertSubscriptions(db, box, SUBSCRIPTIONS);
    await grant(
      db,
      subs.flatMap((s) => ps.map((p) => [s, p.id] as [number, number])),
    );
    await bumpNodes(db, [node.id]);

    const cache = new SecretCache(box);
    let t = performance.now();
    const cold = await servedConfig(db, node.id, cache.reveal);
    const coldMs = performance.now() - t;
    const served = await time(7, () => servedConfig(db, node.id, cache.reveal));
    const load = await time(7, () => loadRenderInputs(db, [node.id]));
    const input = (await loadRenderInputs(db, [node.id])).get(node.id)!;
    // What serving costs past the reads: one render, the sealed text hashed, the opened text for the node.
    const render = await time(7, () => {
      const config = renderNodeConfig(input, new Date());
      configHash(configText(config));
      return configText(config, cache.reveal);
    });
    const object = JSON.parse(cold.body);
    const baseline = await time(7, () => JSON.stringify(object));
    const clients = object.services.xray.inbounds.reduce((n: number, i: any) => n + i.settings.clients.length, 0);
    t = performance.now();

    console.log(
      `1) one node, ${fmt(SUBSCRIPTIONS)} subscriptions × ${ps.length} protocols (${fmt(clients)} Xray clients, ${fmt(object.services.mtproto.users.length)} telemt users), ${engine}`,
    );
    console.log(`   config size: ${fmt(cold.body.length / 1024)} KiB`);
    console.log(`   baseline, JSON.stringify of the same config object: ${fmt(baseline, 1)} ms`);
    console.log(`   serve config/latest (read + render + hash), warm: ${fmt(served, 1)} ms  → ${(served / baseline).toFixed(1)}× baseline`);
    console.log(`     of which: read rows ${fmt(load, 1)} ms, render + hash ${fmt(render, 1)} ms (${(render / baseline).toFixed(1)}× baseline)`);
    console.log(`   first serve (sealed secrets opened once): ${fmt(coldMs, 1)} ms`);
    console.log(`   unchanged config (If-None-Match → 304): one indexed read of revision and hash, no render`);
    report({
      name: `config-render serve ${fmt(SUBSCRIPTIONS)} subs [${engine}]`,
      figure: served,
      unit: 'ms',
      baseline,
      baselineUnit: 'ms JSON.stringify',
      ratio: served / baseline,
      aim: '',
    });
  } finally {
    await close();
  }
}

// ── 2. One subscription change among 1,000 nodes ───────────────────────────────────────────────
{
  const { db, engine, close } = await scratch();
  try {
    const outbox = new Outbox(db, 'bench', () => {});
    const nodes = new CoreNodeAdminService(db, outbox, { offlineAfterMs: 90_000 });
    const protocols = new ProtocolService(db, box);
    const subscriptions = new SubscriptionService(db, outbox, box);
    const nodeIds: string[] = [];
    const protocolIds: number[] = [];
    for (let i = 0; i < NODES; i++) {
      const node = await nodes.create({ name: `n${i}`, host: `n${i}.vpn.example.com` });
      nodeIds.push(node.id);
      protocolIds.push((await protocols.create(MASTER, { node_id: node.id, protocol: 'vless', port: 443 })).id);
    }
    const subs = await insertSubscriptions(db, box, SUBSCRIPTIONS);
    const grants = new Map<number, number[]>();
    const pairs: Array<[number, number]> = [];
    for (const s of subs) {
      const picked = new Set<number>();
      while (picked.size < 3) picked.add(Math.floor(Math.random() * NODES));
      grants.set(s, [...picked]);
      for (const n of picked) pairs.push([s, protocolIds[n]!]);
    }
    await grant(db, pairs);
    await bumpNodes(db, nodeIds);

    const revisions = async () =>
      new Map((await db.selectFrom('core_nodes').select(['node_id', 'revision']).execute()).map((r) => [r.node_id, Number(r.revision)]));
    // Correctness first: a change bumps exactly the nodes the subscription is granted on.
    const probe = subs[0]!;
    const before = await revisions();
    await subscriptions.update(MASTER, probe, { status: 'disabled' });
    const after = await revisions();
    const bumped = [...after]
      .filter(([id, rev]) => rev !== before.get(id))
      .map(([id]) => id)
      .sort();
    const expected = grants
      .get(probe)!
      .map((n) => nodeIds[n]!)
      .sort();
    if (JSON.stringify(bumped) !== JSON.stringify(expected)) throw new Error(`bumped ${bumped.length} nodes, expected ${expected.length}`);

    const targets = subs.slice(1, 1 + CHANGES);
    let i = 0;
    const change = await time(targets.length, () => subscriptions.update(MASTER, targets[i++]!, { status: 'disabled' }));
    const fleet = await time(3, () => bumpNodes(db, nodeIds));

    console.log(`2) ${fmt(NODES)} nodes, ${fmt(SUBSCRIPTIONS)} subscriptions on 3 nodes each (~${fmt((SUBSCRIPTIONS * 3) / NODES)} per node), ${engine}`);
    console.log(
      `   one subscription change (disable) bumping its 3 nodes: ${fmt(change, 2)} ms (median of ${targets.length}); verified: exactly its ${bumped.length} nodes moved`,
    );
    console.log(`   baseline, re-rendering and hashing all ${fmt(NODES)} nodes: ${fmt(fleet, 1)} ms  → a change costs ${(change / fleet).toFixed(4)}× of it`);
    report({
      name: `config-render change ${fmt(NODES)} nodes [${engine}]`,
      figure: change,
      unit: 'ms',
      baseline: fleet,
      baselineUnit: 'ms re-render all',
      ratio: change / fleet,
      aim: 'bumps exactly its nodes (verified)',
    });
  } finally {
    await close();
  }
}
