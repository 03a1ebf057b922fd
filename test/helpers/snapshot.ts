/** A digest of every row of every table, to prove a refused request stored nothing. */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { SCHEDULE_QUEUE } from '../../src/server/jobs/scheduler.ts';
import type { TestServer } from './server.ts';

const AUDIT_EVENT = 'audit.recorded';
const LAST_USE = new Set(['operator_sessions.last_seen_at', 'api_tokens.last_used_at']);

export async function databaseSnapshot(server: TestServer): Promise<string> {
  const db = server.ctx.database.db;
  // `instances` holds this process's own heartbeat, and the scheduler's rows in `jobs` record which
  // tick ran last: both move on their own. A credential's last use (`operator_sessions.last_seen_at`,
  // `api_tokens.last_used_at`) moves with any request it authenticates, refused ones too. A refused request is audited (its `audit_log` row and
  // `audit.recorded` event, which the relay's subscribers then consume): the one write it makes.
  const tables = (await db.introspection.getTables())
    .map((t) => t.name)
    .filter((n) => !n.startsWith('kysely_') && !['instances', 'audit_log', 'event_consumers'].includes(n))
    .sort();
  const hash = createHash('sha256');
  for (const table of tables) {
    const rows =
      table === 'jobs'
        ? await sql<Record<string, unknown>>`select * from jobs where queue <> ${SCHEDULE_QUEUE}`.execute(db)
        : table === 'events'
          ? await sql<Record<string, unknown>>`select * from events where type <> ${AUDIT_EVENT}`.execute(db)
          : await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db);
    const lines = rows.rows
      .map((r) =>
        JSON.stringify(
          Object.entries(r)
            .filter(([column]) => !LAST_USE.has(`${table}.${column}`))
            .sort(),
        ),
      )
      .sort();
    hash.update(`${table}:${lines.join('\n')}\n`);
  }
  return hash.digest('hex');
}
