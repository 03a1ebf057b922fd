import type { Kysely } from 'kysely';

/**
 * Commands and self-update requests fan out in a background job, after the request that made them
 * is gone: each keeps the node scope of its creator (JSON array of inventory ids; null = every
 * node), so the job reaches only nodes that caller may touch.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('commands').addColumn('node_scope', 'text').execute();
  await db.schema.alterTable('self_update_requests').addColumn('node_scope', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('self_update_requests').dropColumn('node_scope').execute();
  await db.schema.alterTable('commands').dropColumn('node_scope').execute();
}
