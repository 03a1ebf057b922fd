import type { Kysely, Transaction } from 'kysely';
import { forUpdate } from '../db/dialect.ts';
import type { Database } from '../db/schema.ts';
import type { EventEnvelope } from './catalog.ts';

export interface StoredEvent {
  seq: number;
  envelope: EventEnvelope;
  /** The exact JSON text written at publish time; webhooks sign and send these bytes. */
  raw: string;
}

/** Sees every event committed after this process started, in order; per-process (streams, hubs). */
export type LiveSubscriber = (event: StoredEvent) => void;

/**
 * Sees every event ever committed, exactly once across all instances: its cursor advances in the
 * same transaction as whatever the handler writes (e.g. webhook delivery jobs).
 */
export type DurableSubscriber = (events: StoredEvent[], trx: Transaction<Database>) => Promise<void>;

const BATCH = 500;

/**
 * Tails the outbox in `seq` order. Woken right after local commits; polls so that events written by
 * other instances sharing the database arrive too.
 */
export class EventRelay {
  private readonly live: LiveSubscriber[] = [];
  private readonly durable = new Map<string, DurableSubscriber>();
  private liveCursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly pollMs: number,
    private readonly onError: (error: unknown) => void,
    /** After a durable subscriber's transaction commits (e.g. wake the job runner for its jobs). */
    private readonly afterDurableCommit: () => void = () => {},
  ) {}

  subscribeLive(subscriber: LiveSubscriber): () => void {
    this.live.push(subscriber);
    return () => this.live.splice(this.live.indexOf(subscriber), 1);
  }

  subscribeDurable(name: string, subscriber: DurableSubscriber): void {
    this.durable.set(name, subscriber);
  }

  async start(): Promise<void> {
    const last = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('seq').as('max'))
      .executeTakeFirst();
    this.liveCursor = Number(last?.max ?? 0);
    for (const name of this.durable.keys()) {
      await this.db
        .insertInto('event_consumers')
        .values({ name, last_seq: 0 })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    }
    this.stopped = false;
    this.schedule();
  }

  /** Deliver now (called after a local commit). Coalesces concurrent kicks into one more pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves once everything committed so far has been offered to every subscriber. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.kick();
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.schedule();
    }, this.pollMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    try {
      await this.drainLive();
      for (const [name, subscriber] of this.durable) await this.drainDurable(name, subscriber);
    } catch (error) {
      this.onError(error);
    }
  }

  private async drainLive(): Promise<void> {
    if (this.live.length === 0) {
      const last = await this.db
        .selectFrom('events')
        .select((eb) => eb.fn.max('seq').as('max'))
        .executeTakeFirst();
      this.liveCursor = Math.max(this.liveCursor, Number(last?.max ?? 0));
      return;
    }
    for (;;) {
      const batch = await this.read(this.db, this.liveCursor);
      for (const event of batch) {
        for (const subscriber of [...this.live]) {
          try {
            subscriber(event);
          } catch (error) {
            this.onError(error);
          }
        }
        this.liveCursor = event.seq;
      }
      if (batch.length < BATCH) return;
    }
  }

  private async drainDurable(name: string, subscriber: DurableSubscriber): Promise<void> {
    for (;;) {
      const more = await this.db.transaction().execute(async (trx) => {
        const cursor = await forUpdate(trx, trx.selectFrom('event_consumers').select('last_seq').where('name', '=', name)).executeTakeFirstOrThrow();
        const batch = await this.read(trx, Number(cursor.last_seq));
        if (batch.length === 0) return false;
        await subscriber(batch, trx);
        await trx
          .updateTable('event_consumers')
          .set({ last_seq: batch.at(-1)!.seq })
          .where('name', '=', name)
          .execute();
        return batch.length === BATCH ? 'more' : 'done';
      });
      if (more !== false) this.afterDurableCommit();
      if (more !== 'more') return;
    }
  }

  private async read(db: Kysely<Database>, after: number): Promise<StoredEvent[]> {
    const rows = await db.selectFrom('events').select(['seq', 'envelope']).where('seq', '>', after).orderBy('seq').limit(BATCH).execute();
    return rows.map((row) => ({ seq: Number(row.seq), raw: row.envelope, envelope: JSON.parse(row.envelope) }));
  }
}
