import type { Kysely } from 'kysely';

/**
 * The manager face's tunnels (manager spec §2.4): an entry edge, an exit edge and, in relay mode,
 * the relay between them, with one push status per leg. A tunnel goes with any of its nodes.
 * Secrets are sealed (SecretBox); `associated_flow_ids` is a JSON array.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tunnels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('ingress_node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('ingress_listen_port', 'integer', (c) => c.notNull())
    .addColumn('egress_node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('egress_forward_addr', 'text', (c) => c.notNull())
    .addColumn('egress_peer_addr', 'text')
    .addColumn('relay_addr', 'text')
    .addColumn('relay_node_id', 'text', (c) => c.references('nodes.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('associated_flow_ids', 'text')
    .addColumn('tunnel_key_enc', 'text', (c) => c.notNull())
    .addColumn('tunnel_bind_secret_enc', 'text', (c) => c.notNull())
    .addColumn('tunnel_psk_enc', 'text')
    .addColumn('ingress_push_status', 'text', (c) => c.notNull())
    .addColumn('egress_push_status', 'text', (c) => c.notNull())
    .addColumn('relay_push_status', 'text')
    .addColumn('ingress_push_error', 'text')
    .addColumn('egress_push_error', 'text')
    .addColumn('relay_push_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // A node's connect re-pushes its legs; a node's list shows its tunnels.
  await db.schema.createIndex('tunnels_ingress_node').on('tunnels').column('ingress_node_id').execute();
  await db.schema.createIndex('tunnels_egress_node').on('tunnels').column('egress_node_id').execute();
  await db.schema.createIndex('tunnels_relay_node').on('tunnels').column('relay_node_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tunnels').execute();
}
