/** SQL of `address_allocations`: one IPv4 address per node, unique within its cluster. */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

export interface Allocation {
  clusterId: string;
  address: number;
}

export const addressRepo = {
  find(db: Db, nodeId: string): Promise<Allocation | undefined> {
    return db.selectFrom('address_allocations').select(['cluster_id as clusterId', 'address']).where('node_id', '=', nodeId).executeTakeFirst();
  },

  /**
   * ON CONFLICT DO NOTHING (rather than catching the violation) keeps a Postgres transaction usable
   * after losing a race. false when another row already holds the address or the node.
   */
  async insertIfFree(db: Db, nodeId: string, clusterId: string, address: number): Promise<boolean> {
    const inserted = await db
      .insertInto('address_allocations')
      .values({ node_id: nodeId, cluster_id: clusterId, address })
      .onConflict((oc) => oc.doNothing())
      .returning('address')
      .executeTakeFirst();
    return inserted !== undefined;
  },

  async release(db: Db, nodeId: string): Promise<void> {
    await db.deleteFrom('address_allocations').where('node_id', '=', nodeId).execute();
  },

  async isTaken(db: Db, clusterId: string, address: number): Promise<boolean> {
    const taken = await db
      .selectFrom('address_allocations')
      .select('address')
      .where('cluster_id', '=', clusterId)
      .where('address', '=', address)
      .executeTakeFirst();
    return taken !== undefined;
  },

  /** The successor of the first held address at or above `from` whose successor is free (found by the index, not a scan). */
  async nextFreeAfterRun(db: Db, clusterId: string, from: number): Promise<number | null> {
    const row = await db
      .selectFrom('address_allocations as a')
      .select(sql<number>`min(a.address) + 1`.as('next'))
      .where('a.cluster_id', '=', clusterId)
      .where('a.address', '>=', from)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('address_allocations as b')
              .select(sql`1`.as('one'))
              .whereRef('b.cluster_id', '=', 'a.cluster_id')
              .where('b.address', '=', sql<number>`a.address + 1`),
          ),
        ),
      )
      .executeTakeFirst();
    return row?.next == null ? null : Number(row.next);
  },
};
