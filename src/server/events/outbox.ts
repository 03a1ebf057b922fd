import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { serializeOutboxWrites } from '../db/dialect.ts';
import type { Database } from '../db/schema.ts';
import { microsecondTimestamp } from '../lib/time.ts';
import { EVENT_SOURCE, type EventDataMap, type EventEnvelope, type EventType } from './catalog.ts';

export type Emit = <T extends EventType>(type: T, data: EventDataMap[T]) => void;

/**
 * Units of work that change state and record what happened. Events emitted inside `run` are
 * inserted in the same transaction as the change, so a rollback publishes nothing and a commit
 * can never lose one. After commit the relay is woken to deliver them.
 */
export class Outbox {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly coreName: string,
    /** Runs after every commit; `withEvents` tells whether events were written. */
    private readonly onCommit: (withEvents: boolean) => void,
  ) {}

  async run<T>(work: (trx: Transaction<Database>, emit: Emit) => Promise<T>): Promise<T> {
    const pending: EventEnvelope[] = [];
    const emit: Emit = (type, data) => {
      pending.push({
        specversion: '1.0',
        id: randomUUID(),
        source: EVENT_SOURCE,
        type,
        time: microsecondTimestamp(),
        datacontenttype: 'application/json',
        corename: this.coreName,
        data,
      } as EventEnvelope);
    };
    const result = await this.db.transaction().execute(async (trx) => {
      const value = await work(trx, emit);
      if (pending.length > 0) {
        await serializeOutboxWrites(trx);
        await trx
          .insertInto('events')
          .values(pending.map((e) => ({ id: e.id, type: e.type, time: e.time, envelope: JSON.stringify(e) })))
          .execute();
      }
      return value;
    });
    this.onCommit(pending.length > 0);
    return result;
  }
}
