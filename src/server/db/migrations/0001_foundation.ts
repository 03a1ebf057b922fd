import type { Kysely } from 'kysely';
import { addSerialPrimaryKey } from '../dialect.ts';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('max_wireguard_peers', 'integer', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('clusters')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('ipv4_range', 'text', (c) => c.notNull().unique())
    .addColumn('node_limit', 'integer')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('enrollment_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('uses_remaining', 'integer')
    .addColumn('expired_at', 'text')
    .addColumn('last_used_at', 'text')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('enrollment_keys_cluster').on('enrollment_keys').column('cluster_id').execute();

  await db.schema
    .createTable('nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('cluster_id', 'text', (c) => c.references('clusters.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text')
    .addColumn('version', 'text')
    .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('nodes_cluster').on('nodes').column('cluster_id').execute();
  await db.schema.createIndex('nodes_kind_inserted').on('nodes').columns(['kind', 'inserted_at']).execute();

  await db.schema
    .createTable('edge_nodes')
    .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
    .addColumn('id_type', 'text', (c) => c.notNull())
    .addColumn('http_port', 'integer', (c) => c.notNull())
    .addColumn('ssh_port', 'integer', (c) => c.notNull())
    .addColumn('host_metrics_port', 'integer', (c) => c.notNull())
    .addColumn('wireguard_metrics_port', 'integer', (c) => c.notNull())
    .addColumn('http_proxy_port', 'integer', (c) => c.notNull())
    .addColumn('socks5_proxy_port', 'integer', (c) => c.notNull())
    .addColumn('self_update_enabled', 'integer', (c) => c.notNull())
    .addColumn('api_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('api_token_enc', 'text', (c) => c.notNull())
    .addColumn('proxy_password_enc', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('address_allocations')
    .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('address', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('address_allocations_cluster_address', ['cluster_id', 'address'])
    .execute();

  await db.schema
    .createTable('aliases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('aliases_cluster_name', ['cluster_id', 'name'])
    .execute();
  await db.schema.createIndex('aliases_node').on('aliases').column('node_id').execute();

  await addSerialPrimaryKey(db, db.schema.createTable('events'), 'seq')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('envelope', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_type').on('events').columns(['type', 'seq']).execute();

  await db.schema
    .createTable('event_consumers')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['event_consumers', 'events', 'aliases', 'address_allocations', 'edge_nodes', 'nodes', 'enrollment_keys', 'clusters', 'instances']) {
    await db.schema.dropTable(table).execute();
  }
}
