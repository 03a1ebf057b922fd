import type { Kysely } from 'kysely';

/**
 * Webhook subscriptions (edge-admin spec §11.3–11.4). Immutable once created. The secret and the
 * operator headers are sealed with the data key (lib/secrets.ts); `subscribed_events` keeps the
 * list as given for rendering, and `webhook_events` holds one row per distinct type so that the
 * relay's fan-out and the `event_type` list filter are plain indexed lookups on both engines.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('subscribed_events', 'text', (c) => c.notNull())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('headers_enc', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('webhook_events')
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_events_pk', ['webhook_id', 'event_type'])
    .execute();
  await db.schema.createIndex('webhook_events_type').on('webhook_events').columns(['event_type', 'webhook_id']).execute();

  // The optional event broker publishes what happens once it is enabled: events up to `last_seq`
  // (recorded the first time an instance relays with EVENT_BROKER_URL set) predate it.
  await db.schema
    .createTable('event_broker_history')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('event_broker_history').execute();
  await db.schema.dropTable('webhook_events').execute();
  await db.schema.dropTable('webhooks').execute();
}
