import type { Kysely } from 'kysely';

/** Self-update requests (edge-admin spec §10); the per-node outcome lives only in events and the summary. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('self_update_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('targeting', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('summary', 'text')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // The agent's check reads the newest request.
  await db.schema.createIndex('self_update_requests_inserted').on('self_update_requests').columns(['inserted_at', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('self_update_requests').execute();
}
