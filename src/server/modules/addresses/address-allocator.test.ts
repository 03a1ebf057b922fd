import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { hostRange, parseCidr } from '../../lib/ipv4.ts';
import { AddressAllocator, findAllocation } from './address-allocator.ts';

for (const engine of testEngines()) {
  describe(`address allocator [${engine}]`, () => {
    let database: TestDatabase;
    const allocator = new AddressAllocator(10);
    const now = new Date().toISOString();

    async function cluster(ipv4Range: string) {
      const row = { id: uuidv7(), name: `c${randomUUID().slice(0, 8)}`, ipv4_range: ipv4Range, node_limit: null, inserted_at: now, updated_at: now };
      await database.db.insertInto('clusters').values(row).execute();
      return row;
    }

    async function nodes(count: number): Promise<string[]> {
      const ids = Array.from({ length: count }, () => randomUUID());
      await database.db
        .insertInto('nodes')
        .values(
          ids.map((id) => ({
            id,
            kind: 'mesh',
            name: id,
            cluster_id: null,
            status: 'healthy',
            last_seen_at: null,
            version: null,
            labels: '{}',
            inserted_at: now,
            updated_at: now,
          })),
        )
        .execute();
      return ids;
    }

    before(async () => {
      database = await openTestDatabase(engine);
    });
    after(() => database.destroy());

    it('gives concurrent transactions distinct addresses without any other lock', async () => {
      const c = await cluster('100.90.0.0/24');
      const ids = await nodes(40);
      // Each allocation in its own transaction: on Postgres these really overlap on the pool.
      const addresses = await Promise.all(ids.map((id) => database.db.transaction().execute((trx) => allocator.allocate(trx, id, c))));
      assert.equal(new Set(addresses).size, ids.length);
      const { first } = hostRange(parseCidr(c.ipv4_range)!, 10);
      assert.deepEqual(
        [...addresses].sort((a, b) => a - b),
        ids.map((_, i) => first + i),
      );
    });

    it('keeps an address in the same cluster, moves it to another, and reuses released ones', async () => {
      const a = await cluster('100.91.0.0/28');
      const b = await cluster('100.92.0.0/28');
      const [n1, n2] = await nodes(2);
      const first = await allocator.allocate(database.db, n1!, a);
      assert.equal(await allocator.allocate(database.db, n1!, a), first);
      const moved = await allocator.allocate(database.db, n1!, b);
      assert.equal((await findAllocation(database.db, n1!))?.clusterId, b.id);
      assert.equal(moved, hostRange(parseCidr(b.ipv4_range)!, 10).first);
      assert.equal(await allocator.allocate(database.db, n2!, a), first, 'the released address is free again');
    });

    it('answers 409 when the range is full', async () => {
      // /28: 16 addresses, minus network, broadcast and 10 reserved = hosts .11 – .14.
      const small = await cluster('100.93.0.0/28');
      const ids = await nodes(5);
      for (const id of ids.slice(0, 4)) await allocator.allocate(database.db, id, small);
      await assert.rejects(allocator.allocate(database.db, ids[4]!, small), {
        code: 'conflict',
        message: `cluster ${small.name} has no free address left in 100.93.0.0/28`,
      });
    });
  });
}
