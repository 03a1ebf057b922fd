import type { Kysely } from 'kysely';

/**
 * The fleet view pages through nodes of every kind newest first; `nodes_kind_inserted` serves one
 * kind at a time only. Labels need no migration: `nodes.labels` (JSON text, `{}`) exists since 0001.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('nodes_inserted').on('nodes').columns(['inserted_at', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('nodes_inserted').execute();
}
