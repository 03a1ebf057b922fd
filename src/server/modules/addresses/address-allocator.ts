/**
 * The one IPv4 allocator for every node kind: one address per node inside its cluster's range.
 * The unique (cluster_id, address) constraint is the arbiter between concurrent allocators; a
 * loser sees its insert skipped and tries the next free address. ON CONFLICT DO NOTHING (rather
 * than catching the violation) keeps a Postgres transaction usable after losing a race.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { ConflictError } from '../../errors.ts';
import { hostRange, parseCidr } from '../../lib/ipv4.ts';

type Db = Kysely<Database>;

export interface AllocationCluster {
  id: string;
  name: string;
  ipv4_range: string;
}

export interface Allocation {
  clusterId: string;
  address: number;
}

/** The node's current address, if any (readers need no allocator instance). */
export function findAllocation(db: Db, nodeId: string): Promise<Allocation | undefined> {
  return db.selectFrom('address_allocations').select(['cluster_id as clusterId', 'address']).where('node_id', '=', nodeId).executeTakeFirst();
}

/** Losing more races than this in one call means something other than contention is wrong. */
const MAX_ATTEMPTS = 1000;

export class AddressAllocator {
  /** @param reserved hosts at the start of every range kept for admins and gateways */
  constructor(private readonly reserved: number) {}

  find(db: Db, nodeId: string): Promise<Allocation | undefined> {
    return findAllocation(db, nodeId);
  }

  /**
   * The node's address in `cluster`: kept when it already has one there, otherwise the lowest
   * free host (an address in another cluster is released first). Call inside the transaction
   * that moves or creates the node so a rollback frees the address again.
   */
  async allocate(db: Db, nodeId: string, cluster: AllocationCluster): Promise<number> {
    const current = await this.find(db, nodeId);
    if (current?.clusterId === cluster.id) return current.address;
    if (current) await this.release(db, nodeId);

    const range = parseCidr(cluster.ipv4_range);
    if (!range) throw new Error(`cluster ${cluster.name} has an unparsable range ${cluster.ipv4_range}`);
    const { first, last } = hostRange(range, this.reserved);
    let from = first;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const candidate = await this.lowestFree(db, cluster.id, from, last);
      if (candidate === null) throw new ConflictError(`cluster ${cluster.name} has no free address left in ${cluster.ipv4_range}`);
      const inserted = await db
        .insertInto('address_allocations')
        .values({ node_id: nodeId, cluster_id: cluster.id, address: candidate })
        .onConflict((oc) => oc.doNothing())
        .returning('address')
        .executeTakeFirst();
      if (inserted) return candidate;
      // A concurrent registration of the same node may have won on the node_id key instead.
      const mine = await this.find(db, nodeId);
      if (mine?.clusterId === cluster.id) return mine.address;
      if (mine) throw new ConflictError('the node was moved concurrently; try again');
      // Someone committed this address between our read and our insert: look past it.
      from = candidate + 1;
    }
    throw new ConflictError(`could not allocate an address in cluster ${cluster.name}; try again`);
  }

  async release(db: Db, nodeId: string): Promise<void> {
    await db.deleteFrom('address_allocations').where('node_id', '=', nodeId).execute();
  }

  /** Lowest address in [from, last] that no row holds, found by the index instead of a scan. */
  private async lowestFree(db: Db, clusterId: string, from: number, last: number): Promise<number | null> {
    if (from > last) return null;
    const taken = await db
      .selectFrom('address_allocations')
      .select('address')
      .where('cluster_id', '=', clusterId)
      .where('address', '=', from)
      .executeTakeFirst();
    if (!taken) return from;
    // The first held address at or above `from` whose successor is free.
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
    const next = row?.next == null ? null : Number(row.next);
    return next !== null && next <= last ? next : null;
  }
}
