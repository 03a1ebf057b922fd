/**
 * "Cluster is full", once: a cluster's node limit counts nodes of every kind in it. Enrollment-key
 * verification asks before handing out a join ticket; creating a node asks again under the
 * cluster's row lock, so two joins cannot both take the last slot.
 */
import type { Kysely } from 'kysely';
import type { ClusterRow, Database } from '../../db/schema.ts';
import { ConflictError } from '../../errors.ts';
import { inventoryRepo } from './inventory.repo.ts';

type Cluster = Pick<ClusterRow, 'id' | 'node_limit'>;

export async function clusterIsFull(db: Kysely<Database>, cluster: Cluster): Promise<boolean> {
  return cluster.node_limit !== null && (await inventoryRepo.countInCluster(db, cluster.id)) >= cluster.node_limit;
}

export async function assertRoomFor(db: Kysely<Database>, cluster: Cluster): Promise<void> {
  if (await clusterIsFull(db, cluster)) throw new ConflictError(`cluster has reached its node limit of ${cluster.node_limit}`);
}
