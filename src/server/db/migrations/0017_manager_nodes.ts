import type { Kysely } from 'kysely';
import { addSerialPrimaryKey } from '../dialect.ts';

/**
 * The manager face's nodes (kinds manager-edge, manager-relay): their facts beside the inventory row,
 * and the events they (and the manager about them) report (manager spec §1.4.3, §5.4).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('manager_nodes')
    .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('registration_token_hash', 'text', (c) => c.unique())
    .addColumn('node_secret_enc', 'text')
    .addColumn('last_health', 'text')
    .addColumn('last_stats', 'text')
    .addColumn('last_stats_at', 'text')
    .addColumn('software_version', 'text')
    .addColumn('protocol_version', 'integer')
    .addColumn('metadata', 'text')
    .addColumn('held_by', 'text')
    .execute();
  await db.schema.createIndex('manager_nodes_held_by').on('manager_nodes').column('held_by').execute();

  await addSerialPrimaryKey(db, db.schema.createTable('manager_events'), 'id')
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .addColumn('flow_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('acknowledged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('acknowledged_by', 'text')
    .execute();
  await db.schema.createIndex('manager_events_created').on('manager_events').column('created_at').execute();
  await db.schema.createIndex('manager_events_node').on('manager_events').columns(['node_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('manager_events').execute();
  await db.schema.dropTable('manager_nodes').execute();
}
