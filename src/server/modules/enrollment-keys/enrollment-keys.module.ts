/**
 * Enrollment keys: verification and the single-use join tickets. Failed verifications are tallied
 * in memory and recorded once per window (failed-verifications.ts): that buffer runs from start()
 * to stop(), and stop() records what is still pending.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { ClusterService } from '../clusters/cluster.service.ts';
import { EnrollmentKeyService } from './enrollment-key.service.ts';

export interface EnrollmentKeysModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  clusters: ClusterService;
  /** URLs agents are told to use; known only once the server listens. */
  adminUrls: () => string[];
  log: Logger;
  config: {
    defaultClusterName: string | null;
    publicEnrollmentKeyEnabled: boolean;
    failedVerifyEventWindowMs: number;
  };
}

export function enrollmentKeysModule(deps: EnrollmentKeysModuleDeps): ModuleManifest<{ enrollmentKeys: EnrollmentKeyService }> {
  const { config, log } = deps;
  const enrollmentKeys = new EnrollmentKeyService(deps.db, deps.outbox, deps.clusters, {
    defaultClusterName: config.defaultClusterName,
    publicEnrollmentKeyEnabled: config.publicEnrollmentKeyEnabled,
    adminUrls: deps.adminUrls,
    failedVerifyWindowMs: config.failedVerifyEventWindowMs,
    onError: (error) => log.error({ err: error }, 'recording failed enrollment-key verifications failed'),
  });
  return {
    services: { enrollmentKeys },
    start: async () => enrollmentKeys.start(),
    stop: () => enrollmentKeys.stop(),
  };
}
