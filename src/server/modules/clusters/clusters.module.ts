/** Clusters and their address ranges: no background work. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { ClusterService } from './cluster.service.ts';
import type { Naming } from './naming.ts';

export interface ClustersModuleDeps {
  db: Kysely<Database>;
  naming: Naming;
  config: {
    clusterAutoRanges: string[];
    clusterSubnetPrefix: number;
    adminSlotReservation: number;
    nodeSlotReservation: number;
  };
}

export function clustersModule(deps: ClustersModuleDeps): ModuleManifest<{ clusters: ClusterService }> {
  const { config } = deps;
  const clusters = new ClusterService(deps.db, deps.naming, {
    autoRanges: config.clusterAutoRanges,
    subnetPrefix: config.clusterSubnetPrefix,
    slotReservation: config.adminSlotReservation + config.nodeSlotReservation,
  });
  return { services: { clusters } };
}
