import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { type ClientMap, UsageAccountant } from './accountant.ts';
import { ProxyCoreController } from '../proxy-core/controller.ts';
import type { StatCounter, StatsClient } from '../proxy-core/grpc-api.ts';
import { type JournalItem, PushJournal } from './journal.ts';
import {
  type ByteServer,
  clientConfig,
  type CountingRelay,
  countingRelay,
  curlThroughSocks,
  freePort,
  HAVE_CURL,
  SKIP_NO_V2RAY,
  socksHttp,
  startByteServer,
  startV2ray,
  V2RAY_BINARY,
  type V2rayProcess,
  vmessOutbound,
} from '../testing/test-support.ts';
import type { SessionEventEntry, UsageEntry } from '../../contract/core-node/ingest.ts';
import type { XrayConfig } from '../proxy-core/xray-config.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-acct-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** Everything the journal would push, by route. */
async function drain(journal: PushJournal) {
  await journal.seal();
  const items: JournalItem[] = [];
  await journal.flush(async (item) => void items.push(item));
  const usage = items.filter((i) => i.route === '/node/usage').flatMap((i) => (i.body as { entries: UsageEntry[] }).entries);
  const outbound = items
    .filter((i) => i.route === '/node/outbound-usage')
    .flatMap((i) => (i.body as { items: { tag: string; bytesUp: number; bytesDown: number }[] }).items);
  const events = items.filter((i) => i.route === '/node/session-events').flatMap((i) => (i.body as { events: SessionEventEntry[] }).events);
  return { usage, outbound, events, items };
}

function totals(entries: UsageEntry[]) {
  const out = new Map<number, { up: number; down: number }>();
  for (const e of entries) {
    const t = out.get(e.userId) ?? { up: 0, down: 0 };
    t.up += e.bytesUp;
    t.down += e.bytesDown;
    out.set(e.userId, t);
  }
  return out;
}

/** A StatsClient stand-in: each poll (user query, then outbound query) takes one queued batch. */
class FakeStats {
  queue: StatCounter[][] = [];
  private current: StatCounter[] = [];
  async queryStats(pattern: string, reset: boolean): Promise<StatCounter[]> {
    assert.equal(reset, true, 'the accountant reads with reset');
    if (pattern === 'user>>>') this.current = this.queue.shift() ?? [];
    return this.current.filter((s) => s.name.startsWith(pattern));
  }
  push(counters: Record<string, number>) {
    this.queue.push(Object.entries(counters).map(([name, value]) => ({ name, value })));
  }
}

const A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const up = (email: string) => `user>>>${email}>>>traffic>>>uplink`;
const down = (email: string) => `user>>>${email}>>>traffic>>>downlink`;

describe('UsageAccountant (attribution, minutes, sessions)', () => {
  async function setup(now: { t: number }) {
    const journal = new PushJournal({ dir: await tempDir(), logger });
    await journal.open();
    const stats = new FakeStats();
    const accountant = new UsageAccountant({ journal, logger, stats: () => stats as unknown as StatsClient, now: () => now.t, offlineAfterMs: 120_000 });
    return { journal, stats, accountant };
  }
  const xray: XrayConfig = {
    inbounds: [
      { tag: 'np-7', protocol: 'vless', settings: { clients: [{ id: A, email: `${A}@np-7` }] } },
      { tag: 'np-8', protocol: 'trojan', settings: { clients: [{ password: 'x', email: 'legacy-b' }] } },
    ],
  };

  it('attributes <linkUuid>@np-<id> through the clientMap, and other emails through the config', async () => {
    const now = { t: Date.parse('2030-01-01T10:00:30Z') };
    const { journal, stats, accountant } = await setup(now);
    accountant.setAttribution({ [A]: { userId: 1, subscriptionId: 10 }, 'legacy-b': { userId: 2, subscriptionId: null } }, xray);
    stats.push({
      [up(`${A}@np-7`)]: 100,
      [down(`${A}@np-7`)]: 1000,
      [up('legacy-b')]: 5,
      [down('LEGACY-B')]: 50,
      'outbound>>>direct>>>traffic>>>downlink': 1050,
      'outbound>>>np-api>>>traffic>>>downlink': 9,
    });
    await accountant.poll();
    const { usage, outbound } = await drain(journal);
    assert.deepEqual(
      usage.sort((x, y) => x.userId - y.userId),
      [
        { userId: 1, subscriptionId: 10, nodeProtocolId: 7, bytesUp: 100, bytesDown: 1000, recordedAt: '2030-01-01T10:00:00.000Z' },
        { userId: 2, subscriptionId: null, nodeProtocolId: 8, bytesUp: 5, bytesDown: 50, recordedAt: '2030-01-01T10:00:00.000Z' },
      ],
    );
    // The agent's own API outbound is not node traffic.
    assert.deepEqual(outbound, [{ tag: 'direct', bytesUp: 0, bytesDown: 1050 }]);
  });

  it('sums polls of one minute into one row and starts a new row each minute', async () => {
    const now = { t: Date.parse('2030-01-01T10:00:10Z') };
    const { journal, stats, accountant } = await setup(now);
    accountant.setAttribution({ [A]: { userId: 1, subscriptionId: 10 } }, xray);
    for (const [t, bytes] of [
      ['10:00:10', 1],
      ['10:00:40', 2],
      ['10:01:05', 4],
    ] as const) {
      now.t = Date.parse(`2030-01-01T${t}Z`);
      stats.push({ [down(`${A}@np-7`)]: bytes });
      await accountant.poll();
    }
    const { usage } = await drain(journal);
    assert.deepEqual(
      usage.map((u) => [u.recordedAt, u.bytesDown]),
      [
        ['2030-01-01T10:00:00.000Z', 3],
        ['2030-01-01T10:01:00.000Z', 4],
      ],
    );
  });

  it('keeps the previous clientMap for traffic read after a link left the config', async () => {
    const { journal, stats, accountant } = await setup({ t: Date.now() });
    accountant.setAttribution({ [A]: { userId: 1, subscriptionId: 10 } }, xray);
    accountant.setAttribution(
      { [B]: { userId: 3, subscriptionId: 30 } },
      { inbounds: [{ tag: 'np-7', protocol: 'vless', settings: { clients: [{ id: B, email: `${B}@np-7` }] } }] },
    );
    stats.push({ [down(`${A}@np-7`)]: 70, [down(`${B}@np-7`)]: 80, [down('stranger@np-7')]: 90 });
    await accountant.poll();
    const byUser = totals((await drain(journal)).usage);
    assert.equal(byUser.get(1)?.down, 70);
    assert.equal(byUser.get(3)?.down, 80);
    assert.equal(accountant.unattributedBytes, 90);
  });

  it('derives online from traffic and offline after two quiet minutes, surviving an agent restart', async () => {
    const now = { t: Date.parse('2030-01-01T10:00:00Z') };
    const { journal, stats, accountant } = await setup(now);
    accountant.setAttribution({ [A]: { userId: 1, subscriptionId: 10 } }, xray);
    stats.push({ [down(`${A}@np-7`)]: 1 });
    await accountant.poll();
    now.t += 60_000;
    stats.push({ [down(`${A}@np-7`)]: 1 });
    await accountant.poll();

    // A new agent process on the same journal remembers who is online.
    const journal2 = new PushJournal({ dir: (journal as unknown as { options: { dir: string } }).options.dir, logger });
    await journal2.open();
    const accountant2 = new UsageAccountant({
      journal: journal2,
      logger,
      stats: () => stats as unknown as StatsClient,
      now: () => now.t,
      offlineAfterMs: 120_000,
    });
    accountant2.setAttribution({ [A]: { userId: 1, subscriptionId: 10 } }, xray);
    now.t += 60_000;
    stats.push({ [down(`${A}@np-7`)]: 1 });
    await accountant2.poll();
    now.t += 119_000;
    await accountant2.poll();
    now.t += 1_000;
    await accountant2.poll();
    const { events } = await drain(journal2);
    assert.deepEqual(events, [
      { userId: 1, protocol: 'vless', eventType: 'online', occurredAt: '2030-01-01T10:00:00.000Z' },
      { userId: 1, protocol: 'vless', eventType: 'offline', occurredAt: '2030-01-01T10:02:00.000Z' },
    ]);
  });
});

describe('UsageAccountant with real traffic through real v2ray cores', { skip: SKIP_NO_V2RAY }, () => {
  const alice = randomUUID();
  const bob = randomUUID();
  const clientMap: ClientMap = { [alice]: { userId: 1, subscriptionId: 11 }, [bob]: { userId: 2, subscriptionId: 22 } };
  const procs: V2rayProcess[] = [];
  let bytes: ByteServer;
  let relay: CountingRelay;
  let ctl: ProxyCoreController;
  let journal: PushJournal;
  let accountant: UsageAccountant;
  let dir: string;
  let aliceSocks: number;
  let bobSocks: number;
  const nodeConfig = (port: number, extra: Partial<XrayConfig> = {}): XrayConfig => ({
    inbounds: [{ tag: 'np-1', listen: '127.0.0.1', port, protocol: 'vmess', settings: { clients: [alice, bob].map((id) => ({ id, email: `${id}@np-1` })) } }],
    outbounds: [{ tag: 'direct', protocol: 'freedom' }],
    ...extra,
  });
  let vmessPort: number;

  before(async () => {
    dir = await tempDir();
    vmessPort = await freePort();
    relay = await countingRelay(vmessPort);
    aliceSocks = await freePort();
    bobSocks = await freePort();
    // Alice's client reaches the node through the counting relay: that is the wire size.
    procs.push(await startV2ray(clientConfig(aliceSocks, vmessOutbound(relay.port, alice)), [aliceSocks]));
    procs.push(await startV2ray(clientConfig(bobSocks, vmessOutbound(vmessPort, bob)), [bobSocks]));
    bytes = await startByteServer();
    ctl = new ProxyCoreController({ flavour: 'v2ray', binary: V2RAY_BINARY, dir, logger });
    journal = new PushJournal({ dir: path.join(dir, 'journal'), logger });
    await journal.open();
    accountant = new UsageAccountant({ journal, logger, stats: () => ctl.stats, intervalMs: 150 });
    ctl.setBeforeStop((stats) => accountant.poll(stats));
    accountant.setAttribution(clientMap, nodeConfig(vmessPort));
    await ctl.apply(nodeConfig(vmessPort));
  });
  after(async () => {
    await accountant?.stop();
    await ctl?.stop();
    await Promise.all(procs.map((p) => p.stop()));
    await bytes?.close();
    await relay?.close();
  });

  it(
    'records per user exactly the bytes curl moved, across polls, a core restart and an agent restart',
    { skip: !HAVE_CURL && '/usr/bin/curl missing' },
    async () => {
      accountant.start();
      const sent = { alice: { up: 0, down: 0 }, bob: { up: 0, down: 0 } };
      const add = (who: 'alice' | 'bob', r: { sent: number; received: number }) => {
        sent[who].up += r.sent;
        sent[who].down += r.received;
      };
      const url = (p: string) => `http://127.0.0.1:${bytes.port}${p}`;
      add('alice', await curlThroughSocks(aliceSocks, url('/bytes/300000')));
      add('alice', await curlThroughSocks(aliceSocks, url('/upload'), 200_000));
      add('bob', await curlThroughSocks(bobSocks, url('/bytes/120000')));

      // A planned core restart: the controller reads the counters before stopping it.
      await ctl.apply(nodeConfig(vmessPort, { routing: { rules: [{ type: 'field', port: '1-2', outboundTag: 'direct' }] } }));
      add('alice', await curlThroughSocks(aliceSocks, url('/bytes/50000')));

      // The agent restarts (new accountant and journal objects; the running core is adopted).
      await accountant.stop();
      const adoptedBy = new ProxyCoreController({ flavour: 'v2ray', binary: V2RAY_BINARY, dir, logger });
      (ctl as unknown as { core: null }).core = null;
      const journal2 = new PushJournal({ dir: path.join(dir, 'journal'), logger });
      await journal2.open();
      const accountant2 = new UsageAccountant({ journal: journal2, logger, stats: () => adoptedBy.stats, intervalMs: 150 });
      accountant2.setAttribution(clientMap, nodeConfig(vmessPort));
      await adoptedBy.start(nodeConfig(vmessPort, { routing: { rules: [{ type: 'field', port: '1-2', outboundTag: 'direct' }] } }));
      ctl = adoptedBy;
      add('bob', await socksHttp(bobSocks, bytes.port, 'GET', '/bytes/77777'));
      await accountant2.poll();
      accountant = accountant2;

      const { usage, outbound } = await drain(journal2);
      const byUser = totals(usage);
      assert.deepEqual(byUser.get(1), sent.alice, 'alice: recorded = bytes curl sent/received');
      assert.deepEqual(byUser.get(2), sent.bob, 'bob: recorded = bytes sent/received');
      assert.ok(usage.every((u) => u.nodeProtocolId === 1 && u.subscriptionId === (u.userId === 1 ? 11 : 22) && u.recordedAt.endsWith(':00.000Z')));
      const direct = outbound.find((o) => o.tag === 'direct')!;
      assert.equal(direct.bytesDown, sent.alice.down + sent.bob.down);
      assert.equal(direct.bytesUp, sent.alice.up + sent.bob.up);

      // The wire carries VMess framing on top; state how much.
      const payload = sent.alice.up + sent.alice.down;
      const wire = relay.up() + relay.down();
      const overhead = (wire - payload) / payload;
      console.log(
        `  alice: payload ${payload} B, VMess wire ${wire} B (client→node ${relay.up()}, node→client ${relay.down()}), overhead ${(overhead * 100).toFixed(2)} %`,
      );
      assert.ok(wire > payload && overhead < 0.05, `overhead ${overhead}`);
    },
  );
});
