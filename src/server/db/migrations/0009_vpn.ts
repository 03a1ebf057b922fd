import type { Kysely } from 'kysely';
import { addSerialPrimaryKey } from '../dialect.ts';

/**
 * The VPN service behind the Core node API (specs/core-node.md §1): users, subscriptions, Core
 * nodes (an inventory `nodes` row of kind `core` plus this side table), their protocols (inbounds)
 * and outbounds, which subscriptions may use which protocols, per-minute usage and session events.
 * Integer ids where the Core wire format carries numbers (userId, subscriptionId, nodeProtocolId,
 * nodeId).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await addSerialPrimaryKey(db, db.schema.createTable('vpn_users'), 'id')
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('telegram_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await addSerialPrimaryKey(db, db.schema.createTable('vpn_subscriptions'), 'id')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('vpn_users.id').onDelete('cascade'))
    .addColumn('link_uuid', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('traffic_limit_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('used_up_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('used_down_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('lifetime_used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reset_strategy', 'text', (c) => c.notNull())
    .addColumn('last_reset_at', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('online_at', 'text')
    .addColumn('last_node_id', 'text')
    /** Sealed (SecretBox) Shadowsocks password; other protocols derive credentials from link_uuid. */
    .addColumn('ss_password_enc', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vpn_subscriptions_user').on('vpn_subscriptions').column('user_id').execute();
  // The expiry sweep looks for passed expires_at every few seconds.
  await db.schema.createIndex('vpn_subscriptions_expiry').on('vpn_subscriptions').column('expires_at').execute();

  await db.schema
    .createTable('core_nodes')
    .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
    .addColumn('core_id', 'integer', (c) => c.notNull().unique())
    .addColumn('code', 'text', (c) => c.notNull().unique())
    /** SHA-256 of the registration secret shown once to the operator; null once reset is needed. */
    .addColumn('registration_secret_hash', 'text')
    .addColumn('auth_key_hash', 'text', (c) => c.unique())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('region', 'text')
    .addColumn('sync_status', 'text', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('applied_revision', 'integer')
    .addColumn('config_hash', 'text')
    .addColumn('last_error', 'text')
    /** JSON list of Xray field rules (RoutingRule in contract/admin/vpn-nodes.ts), rendered in order. */
    .addColumn('routing_rules', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();

  await addSerialPrimaryKey(db, db.schema.createTable('node_protocols'), 'id')
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('port', 'integer', (c) => c.notNull())
    .addColumn('listen', 'text')
    .addColumn('transport', 'text')
    .addColumn('transport_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('security', 'text', (c) => c.notNull())
    .addColumn('tls_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('reality_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('flow', 'text')
    .addColumn('ss_method', 'text')
    .addColumn('ss_server_key_enc', 'text')
    .addColumn('mtproto_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('remark', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('node_protocols_node_port', ['node_id', 'port'])
    .execute();

  await db.schema
    .createTable('subscription_protocols')
    .addColumn('subscription_id', 'integer', (c) => c.notNull().references('vpn_subscriptions.id').onDelete('cascade'))
    .addColumn('node_protocol_id', 'integer', (c) => c.notNull().references('node_protocols.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('subscription_protocols_pk', ['subscription_id', 'node_protocol_id'])
    .execute();
  await db.schema.createIndex('subscription_protocols_protocol').on('subscription_protocols').column('node_protocol_id').execute();

  await addSerialPrimaryKey(db, db.schema.createTable('node_outbounds'), 'id')
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('stream_settings', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('traffic_bytes_up', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('traffic_bytes_down', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('node_outbounds_node_tag', ['node_id', 'tag'])
    .execute();

  // subscription_id 0 = none, so the unique key also holds for unattributed traffic.
  await addSerialPrimaryKey(db, db.schema.createTable('usage_records'), 'id')
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('node_protocol_id', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull())
    .addColumn('subscription_id', 'integer', (c) => c.notNull())
    .addColumn('recorded_at', 'text', (c) => c.notNull())
    .addColumn('bytes_up', 'bigint', (c) => c.notNull())
    .addColumn('bytes_down', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('usage_records_minute', ['node_protocol_id', 'user_id', 'subscription_id', 'recorded_at'])
    .execute();
  await db.schema.createIndex('usage_records_subscription_time').on('usage_records').columns(['subscription_id', 'recorded_at']).execute();

  await addSerialPrimaryKey(db, db.schema.createTable('session_events'), 'id')
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'text')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('session_events_user_time').on('session_events').columns(['user_id', 'occurred_at']).execute();
  await db.schema.createIndex('session_events_node_time').on('session_events').columns(['node_id', 'occurred_at']).execute();

  /** Idempotency keys of accepted ingest batches (`Idempotency-Key` on /node/usage and friends). */
  await db.schema
    .createTable('ingest_batches')
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ingest_batches_pk', ['node_id', 'route', 'idempotency_key'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'ingest_batches',
    'session_events',
    'usage_records',
    'node_outbounds',
    'subscription_protocols',
    'node_protocols',
    'core_nodes',
    'vpn_subscriptions',
    'vpn_users',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
