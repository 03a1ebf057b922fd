import type { Kysely } from 'kysely';

/**
 * Two safety facts of Core nodes: grants taken away recently (so a node's late usage for a
 * subscription it served in its previous revision still counts, and nothing else does), and the
 * private destinations an operator opened on purpose past the default block.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('revoked_grants')
    .addColumn('subscription_id', 'integer', (c) => c.notNull().references('vpn_subscriptions.id').onDelete('cascade'))
    .addColumn('node_protocol_id', 'integer', (c) => c.notNull().references('node_protocols.id').onDelete('cascade'))
    .addColumn('node_id', 'text', (c) => c.notNull())
    /** The node's newest revision whose state still held the grant. */
    .addColumn('last_revision', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('revoked_grants_pk', ['subscription_id', 'node_protocol_id'])
    .execute();
  await db.schema.createIndex('revoked_grants_node').on('revoked_grants').columns(['node_id', 'last_revision']).execute();

  /** JSON list of `ip[/prefix][:port]` destinations users may reach although they are private. */
  await db.schema
    .alterTable('core_nodes')
    .addColumn('allowed_destinations', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  // Every node's config now blocks private destinations: a new revision makes running agents fetch it.
  await db
    .updateTable('core_nodes')
    .set((eb) => ({ revision: eb('revision', '+', 1), sync_status: 'pending' }))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('core_nodes').dropColumn('allowed_destinations').execute();
  await db.schema.dropTable('revoked_grants').execute();
}
