import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import type { UserRow } from '../../db/tables/operators.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { loginAttemptRepo } from './login-attempt.repo.ts';
import { sessionRepo } from './session.repo.ts';
import { tokenRepo } from './token.repo.ts';
import { userRepo } from './user.repo.ts';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

const user = (overrides: Partial<UserRow> = {}): UserRow => ({
  id: uuidv7(),
  username: `u${uuidv7().slice(-8)}`,
  display_name: 'U',
  email: null,
  role: 'viewer',
  password_hash: 'x',
  is_temporary: 0,
  expires_at: null,
  allowed_node_ids: null,
  is_active: 1,
  last_login_at: null,
  failed_logins: 0,
  locked_until: null,
  inserted_at: at(0),
  updated_at: at(0),
  ...overrides,
});

for (const engine of testEngines()) {
  describe(`operators repos [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());

    it('counts login attempts per address in a fixed window, every concurrent attempt exactly once', async () => {
      const counts = await Promise.all(Array.from({ length: 12 }, () => loginAttemptRepo.hit(database.db, '192.0.2.1', at(10), at(10 - 60))));
      assert.deepEqual(
        counts.sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      assert.equal(await loginAttemptRepo.hit(database.db, '192.0.2.2', at(10), at(-50)), 1, 'addresses count apart');
      assert.equal(await loginAttemptRepo.hit(database.db, '192.0.2.1', at(69), at(9)), 13, 'the window still runs');
      assert.equal(await loginAttemptRepo.hit(database.db, '192.0.2.1', at(70), at(10)), 1, 'a window that began at the cutoff is over');
      assert.equal(await loginAttemptRepo.hit(database.db, '192.0.2.1', at(71), at(11)), 2);
      assert.equal(await loginAttemptRepo.prune(database.db, at(70)), 2);
    });

    it('counts failed logins atomically', async () => {
      const row = user();
      await userRepo.insert(database.db, row);
      await Promise.all(Array.from({ length: 5 }, () => userRepo.countFailure(database.db, row.id)));
      assert.equal((await userRepo.find(database.db, row.id))!.failed_logins, 5);
    });

    it('finds a session with its user by token hash, touches it at most once per window, revokes it', async () => {
      const owner = user({ role: 'admin', allowed_node_ids: '["n1"]' });
      await userRepo.insert(database.db, owner);
      const id = uuidv7();
      await sessionRepo.insert(database.db, {
        id,
        user_id: owner.id,
        token_hash: `h-${id}`,
        csrf_token: 'c',
        ip: null,
        user_agent: null,
        inserted_at: at(0),
        last_seen_at: at(0),
        expires_at: at(59),
        revoked_at: null,
      });
      const found = (await sessionRepo.findByTokenHash(database.db, `h-${id}`))!;
      assert.equal(found.session.id, id);
      assert.deepEqual(found.user, { id: owner.id, username: owner.username, role: 'admin', allowed_node_ids: '["n1"]', is_active: 1, expires_at: null });
      await sessionRepo.touch(database.db, id, at(30), at(-30));
      assert.equal((await sessionRepo.findByTokenHash(database.db, `h-${id}`))!.session.last_seen_at, at(0), 'fresh enough: no write');
      await sessionRepo.touch(database.db, id, at(30), at(1));
      assert.equal((await sessionRepo.findByTokenHash(database.db, `h-${id}`))!.session.last_seen_at, at(30));
      assert.equal(await sessionRepo.revokeAllOf(database.db, owner.id, at(31)), 1);
      assert.equal(await sessionRepo.revoke(database.db, id, at(32)), false, 'already revoked');
      assert.equal(await sessionRepo.prune(database.db, at(40), at(30)), 0);
      assert.equal(await sessionRepo.prune(database.db, at(59), at(0)), 1);
      assert.equal(await sessionRepo.findByTokenHash(database.db, 'missing'), undefined);
    });

    it("finds a token with its owner, records its use, lists an owner's tokens; deleting the owner removes them", async () => {
      const owner = user();
      await userRepo.insert(database.db, owner);
      const id = uuidv7();
      await tokenRepo.insert(database.db, {
        id,
        user_id: owner.id,
        name: 'ci',
        role: 'viewer',
        token_hash: `t-${id}`,
        token_prefix: 'npt_abc',
        expires_at: null,
        last_used_at: null,
        revoked_at: null,
        inserted_at: at(0),
      });
      await tokenRepo.touch(database.db, id, at(5), at(-55));
      const found = (await tokenRepo.findByTokenHash(database.db, `t-${id}`))!;
      assert.equal(found.token.last_used_at, at(5));
      assert.equal(found.user.username, owner.username);
      assert.deepEqual(
        (await tokenRepo.list(database.db, { user_id: owner.id })).items.map((t) => t.id),
        [id],
      );
      assert.equal(await userRepo.delete(database.db, owner.id), true);
      assert.equal(await tokenRepo.find(database.db, id), undefined);
    });
  });
}
