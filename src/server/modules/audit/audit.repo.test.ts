import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import type { AuditLogRow } from '../../db/tables/audit-settings.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { auditRepo } from './audit.repo.ts';

const at = (day: number) => `2026-01-${String(day).padStart(2, '0')}T12:00:00.000Z`;

for (const engine of testEngines()) {
  describe(`audit repo [${engine}]`, () => {
    let database: TestDatabase;
    const row = (overrides: Partial<AuditLogRow> = {}): AuditLogRow => ({
      id: uuidv7(),
      at: at(1),
      actor_type: 'api-key',
      actor_id: 'master',
      actor_name: 'master',
      action: 'cluster.create',
      target_type: 'cluster',
      target_id: null,
      method: 'POST',
      path: '/api/v1/clusters',
      status: 201,
      ip: '127.0.0.1',
      details: null,
      ...overrides,
    });
    const actions = async (filters: Record<string, unknown>) => (await auditRepo.list(database.db, { page_size: 100, ...filters })).items.map((r) => r.action);

    before(async () => {
      database = await openTestDatabase(engine);
      await auditRepo.insert(database.db, row({ at: at(1), action: 'cluster.create' }));
      await auditRepo.insert(database.db, row({ at: at(2), action: 'cluster.delete', target_id: 'c1' }));
      await auditRepo.insert(database.db, row({ at: at(3), action: 'auth.login_failed', actor_type: 'public', actor_id: null, details: '{"username":"x"}' }));
    });
    after(() => database.destroy());

    it('lists newest first with exact, wildcard and time filters', async () => {
      assert.deepEqual(await actions({}), ['auth.login_failed', 'cluster.delete', 'cluster.create']);
      assert.deepEqual(await actions({ action: 'cluster.*' }), ['cluster.delete', 'cluster.create']);
      assert.deepEqual(await actions({ actor_type: 'public' }), ['auth.login_failed']);
      assert.deepEqual(await actions({ target_id: 'c1', target_type: 'cluster' }), ['cluster.delete']);
      assert.deepEqual(await actions({ from: '2026-01-02', to: '2026-01-02' }), ['cluster.delete']);
      assert.deepEqual(await actions({ actor_id: 'master', from: at(2) }), ['cluster.delete']);
    });

    it('deletes rows older than a cutoff', async () => {
      assert.equal(await auditRepo.deleteOlderThan(database.db, at(2)), 1);
      assert.deepEqual(await actions({}), ['auth.login_failed', 'cluster.delete']);
    });
  });
}
