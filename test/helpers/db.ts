/** A migrated scratch database of one engine, for repo-level tests that need no HTTP server. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DatabaseHandle, type Engine, openDatabase } from '../../src/server/db/dialect.ts';
import { migrateToLatest } from '../../src/server/db/migrate.ts';
import { scratchDatabaseUrl } from './server.ts';

export interface TestDatabase extends DatabaseHandle {
  destroy(): Promise<void>;
}

export async function openTestDatabase(engine: Engine): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-db-'));
  const scratch = await scratchDatabaseUrl(engine, dir);
  const handle = openDatabase(scratch.url, { poolSize: 5 });
  await migrateToLatest(handle.db);
  return {
    ...handle,
    async destroy() {
      await handle.close();
      await scratch.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
