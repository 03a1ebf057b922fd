/**
 * The one IPv4 allocator for every node kind: one address per node inside its cluster's range.
 * The unique (cluster_id, address) constraint is the arbiter between concurrent allocators; a
 * loser sees its insert skipped and tries the next free address.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { ConflictError } from '../../errors.ts';
import { hostRange, parseCidr } from '../../lib/ipv4.ts';
import { type Allocation, addressRepo } from './address.repo.ts';

type Db = Kysely<Database>;

export interface AllocationCluster {
  id: string;
  name: string;
  ipv4_range: string;
}

/** The node's current address, if any (readers need no allocator instance). */
export function findAllocation(db: Db, nodeId: string): Promise<Allocation | undefined> {
  return addressRepo.find(db, nodeId);
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
      if (await addressRepo.insertIfFree(db, nodeId, cluster.id, candidate)) return candidate;
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
    await addressRepo.release(db, nodeId);
  }

  /** Lowest address in [from, last] that no row holds, found by the index instead of a scan. */
  private async lowestFree(db: Db, clusterId: string, from: number, last: number): Promise<number | null> {
    if (from > last) return null;
    if (!(await addressRepo.isTaken(db, clusterId, from))) return from;
    const next = await addressRepo.nextFreeAfterRun(db, clusterId, from);
    return next !== null && next <= last ? next : null;
  }
}
