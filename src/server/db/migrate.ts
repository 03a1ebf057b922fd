import { type Kysely, type Migration, Migrator } from 'kysely';
import * as foundation from './migrations/0001_foundation.ts';
import * as nodeMetrics from './migrations/0002_node_metrics.ts';
import * as joinTickets from './migrations/0003_join_tickets.ts';

/** Listed by hand so the set is explicit and works without a filesystem scan. */
const migrations: Record<string, Migration> = {
  '0001_foundation': foundation,
  '0002_node_metrics': nodeMetrics,
  '0003_join_tickets': joinTickets,
};

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
