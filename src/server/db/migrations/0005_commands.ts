import { type Kysely, sql } from 'kysely';

/** Commands and their per-node executions (edge-admin spec §8). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('commands')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('command_text', 'text', (c) => c.notNull())
    .addColumn('timeout', 'integer')
    .addColumn('expired_at', 'text')
    .addColumn('targeting', 'text', (c) => c.notNull())
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('commands_inserted').on('commands').column('inserted_at').execute();
  // The expiry sweep starts from commands whose deadline has passed.
  await db.schema.createIndex('commands_expired_at').on('commands').column('expired_at').execute();

  await db.schema
    .createTable('command_executions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('command_id', 'text', (c) => c.notNull().references('commands.id').onDelete('cascade'))
    // Executions outlive their node and cluster as history.
    .addColumn('node_id', 'text', (c) => c.references('nodes.id').onDelete('set null'))
    .addColumn('cluster_id', 'text', (c) => c.references('clusters.id').onDelete('set null'))
    .addColumn('target_all', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('output', 'text')
    .addColumn('exit_code', 'integer')
    .addColumn('sent_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('cancelled_at', 'text')
    .addColumn('inserted_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // One execution per node and command: a retried creation job inserts nothing twice. Keyed
    // command first, so a fan-out's entries land together at the end of the index and the key
    // also serves every per-command lookup.
    .addUniqueConstraint('command_executions_command_node', ['command_id', 'node_id'])
    .execute();
  // The agent's list and push-on-connect: a node's executions of one status, oldest first. A
  // fan-out writes this one at random positions, which is most of its insert cost (bench/fanout),
  // so indexes are kept to these: deleting a cluster (rare, and only once it is empty) scans for
  // its ON DELETE SET NULL instead.
  await db.schema.createIndex('command_executions_node_status').on('command_executions').columns(['node_id', 'status', 'inserted_at']).execute();
  // Open executions by command: the expiry sweep (from commands past their deadline) and DELETE
  // command's check. Partial, so it holds only what is still pending or sent and stays small; a
  // fan-out appends to it. Queries spell the same condition with literals (executionRepo `isOpen`):
  // the planners cannot match a partial index against bound parameters.
  await db.schema
    .createIndex('command_executions_open')
    .on('command_executions')
    .column('command_id')
    .where(sql<boolean>`status in ('pending', 'sent')`)
    .execute();
  // The admin list's default order and pruning (oldest first).
  await db.schema.createIndex('command_executions_inserted').on('command_executions').column('inserted_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('command_executions').execute();
  await db.schema.dropTable('commands').execute();
}
