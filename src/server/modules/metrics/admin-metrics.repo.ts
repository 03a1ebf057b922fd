/** The aggregate reads behind the admin metrics document: nodes by status, jobs by queue and state. */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

export interface QueueCounts {
  queue: string;
  available: number;
  scheduled: number;
  executing: number;
  retryable: number;
  discarded: number;
}

export const adminMetricsRepo = {
  async nodeCountsByStatus(db: Db): Promise<Record<string, number>> {
    const rows = await db
      .selectFrom('nodes')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('status')
      .orderBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  },

  /** Job states as Oban names them; leased jobs are executing, delayed ones scheduled or retryable. */
  async queueCounts(db: Db, now: string): Promise<QueueCounts[]> {
    const free = sql`(lease_until is null or lease_until <= ${now})`;
    const rows = await sql<QueueCounts>`
      select queue,
        sum(case when state = 'pending' and not ${free} then 1 else 0 end) as executing,
        sum(case when state = 'pending' and ${free} and run_at <= ${now} then 1 else 0 end) as available,
        sum(case when state = 'pending' and ${free} and run_at > ${now} and attempts = 0 then 1 else 0 end) as scheduled,
        sum(case when state = 'pending' and ${free} and run_at > ${now} and attempts > 0 then 1 else 0 end) as retryable,
        sum(case when state = 'dead' then 1 else 0 end) as discarded
      from jobs group by queue`.execute(db);
    return rows.rows;
  },
};
