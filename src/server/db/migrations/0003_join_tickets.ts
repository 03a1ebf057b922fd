import type { Kysely } from 'kysely';

/**
 * Join tickets: what a successful enrollment-key verification hands the agent (in the
 * `netmaker_key` slot, the VPN join token of the upstream protocol) and what a first registration
 * must present. Without them anyone who knows a cluster name could register nodes into it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('join_tickets')
    .addColumn('ticket_hash', 'text', (c) => c.primaryKey())
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('join_tickets_expiry').on('join_tickets').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('join_tickets').execute();
}
