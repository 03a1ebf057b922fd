/**
 * At-least-once relay from the outbox to the event broker. The durable subscriber `broker` turns
 * each batch of committed events into one job in the transaction that advances its cursor; the job
 * publishes the batch in order and is retried with backoff until the broker takes it. Publishing
 * from a job rather than inside the relay's transaction keeps a slow or absent broker from holding
 * a database transaction open (on SQLite that would stall every query) and from holding up the
 * relay's other subscribers. A crash between publish and job deletion publishes the batch again:
 * consumers dedupe on the envelope `id`.
 *
 * The broker carries what happens once it is enabled, not the outbox's history: the first time
 * any instance relays with a broker configured, it records the last event committed before that
 * process started, and nothing up to it is ever published. Events committed while the broker was
 * enabled but down, or while the servers were stopped, are all published.
 */
import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { Database } from '../../db/schema.ts';
import { enqueue, type Job } from '../../jobs/job-queue.ts';
import type { StoredEvent } from '../relay.ts';
import { microsecondTimestamp } from '../../lib/time.ts';
import { type BrokerClient, type BrokerMessage, createBrokerClient } from './broker.ts';

export const BROKER_QUEUE = 'event_broker';

const HISTORY_MARK = 'broker';

interface BrokerPayload {
  events: BrokerMessage[];
}

/** Effectively forever: the broker may be down for a long time and no event may be dropped. */
const MAX_ATTEMPTS = 2_000_000_000;

/** 0.5 s, 1 s, 2 s … capped at 30 s, with up to 10 % jitter. */
export const brokerRetryDelayMs = (attempt: number): number => Math.round(Math.min(500 * 2 ** (attempt - 1), 30_000) * (1 + Math.random() * 0.1));

/** The counters it moves (registered with the webhook metrics, modules/webhooks/metrics.ts). */
export interface BrokerMetrics {
  brokerEnqueues: Counter;
  brokerPublishes: Counter<'result'>;
  jobsCompleted: Counter<'queue'>;
}

export class EventBrokerRelay {
  readonly client: BrokerClient;
  private readonly startedAt = microsecondTimestamp();

  constructor(
    url: string,
    log: Logger,
    private readonly metrics: BrokerMetrics,
  ) {
    this.client = createBrokerClient(url, log);
  }

  /** The durable relay subscriber: each batch of new events becomes one publish job. */
  async enqueue(all: StoredEvent[], trx: Transaction<Database>): Promise<void> {
    const history = await this.historyMark(trx);
    const events = all.filter((e) => e.seq > history);
    if (events.length === 0) return;
    await enqueue(trx, BROKER_QUEUE, { events: events.map((e) => ({ type: e.envelope.type, raw: e.raw })) } satisfies BrokerPayload, {
      maxAttempts: MAX_ATTEMPTS,
    });
    this.metrics.brokerEnqueues.inc(events.length);
  }

  async start(): Promise<void> {
    this.client.connect();
  }

  async stop(): Promise<void> {
    await this.client.close();
  }

  /** Read on every batch rather than cached: a cached value could outlive a rolled-back insert. */
  private async historyMark(trx: Transaction<Database>): Promise<number> {
    const read = () => trx.selectFrom('event_broker_history').select('last_seq').where('name', '=', HISTORY_MARK).executeTakeFirst();
    const mark = await read();
    if (mark) return Number(mark.last_seq);
    const before = await trx
      .selectFrom('events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('time', '<', this.startedAt)
      .executeTakeFirst();
    await trx
      .insertInto('event_broker_history')
      .values({ name: HISTORY_MARK, last_seq: Number(before?.seq ?? 0) })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return Number((await read())!.last_seq);
  }

  async publish(job: Job<BrokerPayload>): Promise<void> {
    const { events } = job.payload;
    try {
      await this.client.publish(events);
    } catch (error) {
      this.metrics.brokerPublishes.inc({ result: 'error' }, events.length);
      throw error;
    }
    this.metrics.brokerPublishes.inc({ result: 'ok' }, events.length);
    this.metrics.jobsCompleted.inc({ queue: BROKER_QUEUE });
  }
}
