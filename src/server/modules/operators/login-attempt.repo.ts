/** SQL of `login_attempts`: the login rate limit's fixed window per client address. */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

export const loginAttemptRepo = {
  /**
   * Counts one attempt from `ip` and returns the attempts in its window, in one upsert, so
   * concurrent attempts on any instance all count. A window that began at or before
   * `windowStartedBefore` is over: the attempt opens a new one at `now`.
   */
  async hit(db: Db, ip: string, now: string, windowStartedBefore: string): Promise<number> {
    const expired = sql<boolean>`login_attempts.window_started_at <= ${windowStartedBefore}`;
    const row = await db
      .insertInto('login_attempts')
      .values({ ip, window_started_at: now, attempts: 1 })
      .onConflict((oc) =>
        oc.column('ip').doUpdateSet({
          attempts: sql<number>`CASE WHEN ${expired} THEN 1 ELSE login_attempts.attempts + 1 END`,
          window_started_at: sql<string>`CASE WHEN ${expired} THEN excluded.window_started_at ELSE login_attempts.window_started_at END`,
        }),
      )
      .returning('attempts')
      .executeTakeFirstOrThrow();
    return Number(row.attempts);
  },

  async prune(db: Db, windowStartedBefore: string): Promise<number> {
    const result = await db.deleteFrom('login_attempts').where('window_started_at', '<=', windowStartedBefore).executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
