import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { settingsRepo } from './settings.repo.ts';

for (const engine of testEngines()) {
  describe(`settings repo [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());

    it('inserts new keys and overwrites saved ones in one statement', async () => {
      await settingsRepo.upsert(database.db, [{ key: 'max_login_attempts', value: '5', updated_at: '2026-01-01T00:00:00.000Z', updated_by: 'api-key:master' }]);
      await settingsRepo.upsert(database.db, [
        { key: 'max_login_attempts', value: '7', updated_at: '2026-01-02T00:00:00.000Z', updated_by: 'u1' },
        { key: 'events_retention_days', value: '9', updated_at: '2026-01-02T00:00:00.000Z', updated_by: 'u1' },
      ]);
      const rows = (await settingsRepo.all(database.db)).sort((x, y) => x.key.localeCompare(y.key));
      assert.deepEqual(rows, [
        { key: 'events_retention_days', value: '9', updated_at: '2026-01-02T00:00:00.000Z', updated_by: 'u1' },
        { key: 'max_login_attempts', value: '7', updated_at: '2026-01-02T00:00:00.000Z', updated_by: 'u1' },
      ]);
    });
  });
}
