import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ClusterService } from '../clusters/cluster.service.ts';

export interface EnrollmentPolicy {
  defaultClusterName: string | null;
  publicEnrollmentKeyEnabled: boolean;
  /** URLs agents are told to use; known only once the server listens. */
  adminUrls: () => string[];
}

export class EnrollmentKeyService {
  constructor(
    readonly db: Kysely<Database>,
    readonly outbox: Outbox,
    readonly clusters: ClusterService,
    readonly policy: EnrollmentPolicy,
  ) {}
}
