import type { Kysely } from 'kysely';

/**
 * SSH access identities of edge nodes (edge-admin spec §9). A username belongs to one node and
 * goes with it; a key belongs to one username and goes with it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('ssh_usernames')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // Column order matters: the last column names the field of the 409 (`username has already been taken`).
    .addUniqueConstraint('ssh_usernames_node_username', ['node_id', 'username'])
    .execute();

  await db.schema
    .createTable('ssh_public_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ssh_username_id', 'text', (c) => c.notNull().references('ssh_usernames.id').onDelete('cascade'))
    .addColumn('key_name', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    // `<algorithm> <base64>` without the comment: what verification compares.
    .addColumn('key_data', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('ssh_public_keys_username_key_name', ['ssh_username_id', 'key_name'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('ssh_public_keys').execute();
  await db.schema.dropTable('ssh_usernames').execute();
}
