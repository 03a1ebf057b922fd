import type { Kysely } from 'kysely';

/**
 * Which instance holds a job's lease, so an instance restarting with the same identity after a
 * crash can release its own leases at once instead of waiting for them to run out.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('lease_owner', 'text').execute();
  await db.schema.createIndex('jobs_lease_owner').on('jobs').column('lease_owner').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('jobs_lease_owner').execute();
  await db.schema.alterTable('jobs').dropColumn('lease_owner').execute();
}
