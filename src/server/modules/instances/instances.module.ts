/**
 * This process as a server instance among those sharing the database. Its heartbeat is the
 * membership lease the owned-clusters scope rests on: it beats from start() to stop(), so the
 * root starts this module before the scheduler and stops it after everything that may own a cluster.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { InstanceService } from './instance.service.ts';

export interface InstancesModuleDeps {
  db: Kysely<Database>;
  log: Logger;
  /** InstanceService reads the admin-cluster, heartbeat and capacity settings from the whole config. */
  config: Config;
}

export function instancesModule(deps: InstancesModuleDeps): ModuleManifest<{ instances: InstanceService }> {
  const instances = new InstanceService(deps.db, deps.config, (error) => deps.log.error({ err: error }, 'admin instance heartbeat failed'));
  return {
    services: { instances },
    start: () => instances.start(),
    stop: () => instances.stop(),
  };
}
