import type { Kysely } from 'kysely';

/**
 * Which instance holds each node's live channel, so any instance can route a frame to it
 * (src/server/channels/). Rows are hints kept by the holders: written on connect, deleted on close,
 * and swept when their instance stops heartbeating. No foreign key: a channel may outlive its
 * node's row by the moment it takes to close it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('node_channels')
    .addColumn('node_id', 'text', (c) => c.primaryKey())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('node_channels_instance').on('node_channels').column('instance_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('node_channels').execute();
}
