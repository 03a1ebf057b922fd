import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { randomToken, tokenHash } from '../../lib/secrets.ts';

/** Single-use join tickets (see migration 0003); only their hashes are stored. */
export const joinTicketRepo = {
  async issue(db: Kysely<Database>, clusterId: string, expiresAt: string): Promise<string> {
    const ticket = randomToken(32);
    await db
      .insertInto('join_tickets')
      .values({ ticket_hash: tokenHash(ticket), cluster_id: clusterId, expires_at: expiresAt })
      .execute();
    return ticket;
  },

  /** Spends the ticket if it is unexpired and for `clusterId`; false otherwise. */
  async consume(db: Kysely<Database>, ticket: string, clusterId: string, now: string): Promise<boolean> {
    await db.deleteFrom('join_tickets').where('expires_at', '<=', now).execute();
    const result = await db.deleteFrom('join_tickets').where('ticket_hash', '=', tokenHash(ticket)).where('cluster_id', '=', clusterId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
