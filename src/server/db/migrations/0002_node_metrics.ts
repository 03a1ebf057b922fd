import { type Kysely, sql } from 'kysely';

/** Latest Prometheus snapshot each node pushed, one row per (node, metrics type), replaced in place. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('node_metrics')
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('metrics_type', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('metrics_text', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('node_metrics_pkey', ['node_id', 'metrics_type'])
    .addCheckConstraint('node_metrics_type_check', sql`metrics_type in ('host', 'agent', 'wireguard')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('node_metrics').execute();
}
