/**
 * Durable push journal for traffic the core has already forgotten.
 *
 * QueryStats with reset zeroes each counter as it is read, so the read deltas exist only in this
 * process until written down. Every poll is merged into `open.json` (temp file + rename) before the
 * next poll; a push interval later the open accumulation is sealed into `batch-<seq>.json`: one file
 * holding every request to make (usage chunks of ≤5000 entries, outbound usage, session events),
 * each with its own UUID Idempotency-Key fixed at sealing time. Batches are pushed oldest first,
 * items in order; an item is marked done after a 2xx and the file is deleted once all are. A
 * crash at any point either repeats an item with the same key (the server counts it once) or
 * leaves it to be pushed later, never drops or re-keys it.
 *
 * Sealing is atomic with respect to `open.json`: the open accumulation carries the seq its batch
 * will get, so on recovery an open accumulation whose batch file already exists was sealed and is
 * dropped (the crash fell between writing the batch and resetting open.json).
 *
 * Items the server refuses for good (a 4xx other than 401/408/409/429) are halved until the bad
 * entries stand alone (the server refuses a batch as a whole and stores nothing of it), and those
 * are moved to `rejected/` with the answer, so one bad entry neither blocks later pushes nor takes
 * its neighbours down with it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { OutboundUsageItem, SessionEventEntry, UsageEntry } from '../../contract/core-node/ingest.ts';
import { MAX_INGEST_BATCH, MAX_OUTBOUND_ITEMS } from './wire.ts';
import { readJsonFile, writeFileAtomic } from '../shared/state.ts';

export type IngestRoute = '/node/usage' | '/node/outbound-usage' | '/node/session-events';

export interface JournalItem {
  /** The Idempotency-Key. */
  key: string;
  route: IngestRoute;
  body: { entries: UsageEntry[] } | { items: OutboundUsageItem[] } | { events: SessionEventEntry[] };
}

interface BatchFile {
  seq: number;
  sealedAt: string;
  items: JournalItem[];
  done: string[];
}

/** Who is online, per `${userId}/${protocol}` (traffic-derived sessions, see accountant.ts). */
export type OnlineState = Record<string, { userId: number; protocol: SessionEventEntry['protocol']; since: number; lastActive: number }>;

interface OpenFile {
  version: 1;
  seq: number;
  usage: Record<string, UsageEntry>;
  outbound: Record<string, OutboundUsageItem>;
  events: SessionEventEntry[];
  online: OnlineState;
}

export interface PollRecord {
  usage: UsageEntry[];
  outbound: OutboundUsageItem[];
  events: SessionEventEntry[];
  online: OnlineState;
}

export interface JournalOptions {
  dir: string;
  logger: Logger;
  /** Entries per /node/usage and events per /node/session-events request (the server's cap, 5000). */
  maxEntries?: number;
  maxOutboundItems?: number;
}

export interface FlushResult {
  pushed: number;
  rejected: number;
  /** Items still waiting (the flush stopped at a failure). */
  remaining: number;
}

/** Thrown by the sender for an answer that will never change: the item is set aside, not retried. */
export class PermanentPushError extends Error {
  override name = 'PermanentPushError';
}

/** Two halves of a refused multi-entry item, each with a new key; null for a single entry. */
function split(item: JournalItem): JournalItem[] | null {
  const body = item.body as Record<string, unknown[]>;
  const field = 'entries' in body ? 'entries' : 'items' in body ? 'items' : 'events';
  const list = body[field] ?? [];
  if (list.length < 2) return null;
  const mid = Math.ceil(list.length / 2);
  return [list.slice(0, mid), list.slice(mid)].map((part) => ({ key: randomUUID(), route: item.route, body: { [field]: part } }) as JournalItem);
}

const batchName = (seq: number) => `batch-${String(seq).padStart(12, '0')}.json`;
const BATCH = /^batch-(\d{12})\.json$/;

export class PushJournal {
  private state: OpenFile = { version: 1, seq: 1, usage: {}, outbound: {}, events: [], online: {} };
  private lock: Promise<unknown> = Promise.resolve();
  private flushing: Promise<FlushResult> | null = null;
  private readonly openFile: string;
  private readonly log: Logger;

  constructor(private readonly options: JournalOptions) {
    this.openFile = path.join(options.dir, 'open.json');
    this.log = options.logger;
  }

  async open(): Promise<void> {
    await mkdir(path.join(this.options.dir, 'rejected'), { recursive: true, mode: 0o700 });
    const saved = (await readJsonFile(this.openFile)) as OpenFile | undefined;
    const seqs = await this.batchSeqs();
    const maxSeq = seqs.length ? seqs[seqs.length - 1]! : 0;
    if (saved && saved.version === 1) {
      this.state = saved;
      if (saved.seq <= maxSeq) {
        // Sealed, then the crash came before open.json was reset: its data is in the batch already.
        this.log.info({ seq: saved.seq }, 'journal: open data was already sealed; dropping the copy');
        this.state = { version: 1, seq: maxSeq + 1, usage: {}, outbound: {}, events: [], online: saved.online ?? {} };
        await this.writeOpen();
      }
    } else {
      this.state.seq = maxSeq + 1;
    }
    if (seqs.length) this.log.info({ batches: seqs.length }, 'journal: unpushed batches from an earlier run will be pushed');
  }

  get online(): OnlineState {
    return structuredClone(this.state.online);
  }

  /** Merges one poll's deltas and persists them before returning. */
  record(poll: PollRecord): Promise<void> {
    // Without traffic or events the online set cannot have changed either: nothing to write.
    if (!poll.usage.length && !poll.outbound.length && !poll.events.length) return Promise.resolve();
    return this.locked(async () => {
      for (const entry of poll.usage) {
        const key = `${entry.recordedAt}|${entry.nodeProtocolId}|${entry.userId}|${entry.subscriptionId ?? ''}`;
        const current = this.state.usage[key];
        if (current) {
          current.bytesUp += entry.bytesUp;
          current.bytesDown += entry.bytesDown;
        } else {
          this.state.usage[key] = { ...entry };
        }
      }
      for (const item of poll.outbound) {
        const current = this.state.outbound[item.tag];
        if (current) {
          current.bytesUp += item.bytesUp;
          current.bytesDown += item.bytesDown;
        } else {
          this.state.outbound[item.tag] = { ...item };
        }
      }
      this.state.events.push(...poll.events);
      this.state.online = poll.online;
      await this.writeOpen();
    });
  }

  /** Turns the open accumulation into a batch to push; no-op when there is nothing. */
  seal(): Promise<number | null> {
    return this.locked(async () => {
      const usage = Object.values(this.state.usage);
      const outbound = Object.values(this.state.outbound);
      const events = this.state.events;
      if (!usage.length && !outbound.length && !events.length) return null;
      const items: JournalItem[] = [];
      const maxEntries = this.options.maxEntries ?? MAX_INGEST_BATCH;
      const maxOutbound = this.options.maxOutboundItems ?? MAX_OUTBOUND_ITEMS;
      for (let i = 0; i < usage.length; i += maxEntries) {
        items.push({ key: randomUUID(), route: '/node/usage', body: { entries: usage.slice(i, i + maxEntries) } });
      }
      for (let i = 0; i < outbound.length; i += maxOutbound) {
        items.push({ key: randomUUID(), route: '/node/outbound-usage', body: { items: outbound.slice(i, i + maxOutbound) } });
      }
      for (let i = 0; i < events.length; i += maxEntries) {
        items.push({ key: randomUUID(), route: '/node/session-events', body: { events: events.slice(i, i + maxEntries) } });
      }
      const seq = this.state.seq;
      const batch: BatchFile = { seq, sealedAt: new Date().toISOString(), items, done: [] };
      await writeFileAtomic(path.join(this.options.dir, batchName(seq)), JSON.stringify(batch), 0o600);
      this.state = { version: 1, seq: seq + 1, usage: {}, outbound: {}, events: [], online: this.state.online };
      await this.writeOpen();
      return seq;
    });
  }

  /** Unpushed items across sealed batches. */
  async pendingItems(): Promise<number> {
    let n = 0;
    for (const seq of await this.batchSeqs()) {
      const batch = (await readJsonFile(path.join(this.options.dir, batchName(seq)))) as BatchFile | undefined;
      if (batch) n += batch.items.length - batch.done.length;
    }
    return n;
  }

  /**
   * Pushes every sealed item in order through `send` (which throws on failure). Stops at the first
   * failure that is not a PermanentPushError; single-flight.
   */
  flush(send: (item: JournalItem) => Promise<void>): Promise<FlushResult> {
    this.flushing ??= this.flushLocked(send).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushLocked(send: (item: JournalItem) => Promise<void>): Promise<FlushResult> {
    let pushed = 0;
    let rejected = 0;
    for (;;) {
      const seqs = await this.batchSeqs();
      if (!seqs.length) return { pushed, rejected, remaining: 0 };
      const file = path.join(this.options.dir, batchName(seqs[0]!));
      const batch = (await readJsonFile(file)) as BatchFile | undefined;
      if (!batch) continue;
      for (let i = 0; i < batch.items.length; i++) {
        const item = batch.items[i]!;
        if (batch.done.includes(item.key)) continue;
        try {
          await send(item);
          pushed++;
        } catch (error) {
          if (!(error instanceof PermanentPushError)) {
            const remaining = await this.pendingItems();
            return { pushed, rejected, remaining };
          }
          const halves = split(item);
          if (halves) {
            // The server refuses a whole batch for one bad entry and stores nothing, so fresh keys
            // are safe: halve until the bad entries stand alone and the rest gets through.
            batch.items.splice(i, 1, ...halves);
            await writeFileAtomic(file, JSON.stringify(batch), 0o600);
            i--;
            continue;
          }
          rejected++;
          this.log.error({ route: item.route, key: item.key, err: error.message }, 'journal: the server refused a push for good; set aside in rejected/');
          await writeFileAtomic(
            path.join(this.options.dir, 'rejected', `${batchName(batch.seq).replace('.json', '')}-${item.key}.json`),
            JSON.stringify({ ...item, error: error.message, at: new Date().toISOString() }),
            0o600,
          );
        }
        batch.done.push(item.key);
        if (batch.done.length < batch.items.length) await writeFileAtomic(file, JSON.stringify(batch), 0o600);
      }
      await rm(file, { force: true });
    }
  }

  private async batchSeqs(): Promise<number[]> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return names
      .map((n) => BATCH.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private writeOpen(): Promise<void> {
    return writeFileAtomic(this.openFile, JSON.stringify(this.state), 0o600);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }
}
