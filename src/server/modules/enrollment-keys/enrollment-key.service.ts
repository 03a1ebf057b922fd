import type { Kysely } from 'kysely';
import type {
  EnrollmentKey,
  EnrollmentKeyCreateRequest,
  EnrollmentKeyListQuery,
  EnrollmentKeyUpdateRequest,
  VerifyError,
} from '../../../contract/admin/enrollment-keys.ts';
import type { Page } from '../../db/listing.ts';
import type { Database, EnrollmentKeyRow } from '../../db/schema.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../../errors.ts';
import type { Outbox } from '../../events/outbox.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { microsecondTimestamp, nowIso, storedTimestamp, toSecondPrecision } from '../../lib/time.ts';
import { clusterIsFull } from '../inventory/capacity.ts';
import type { ClusterService } from '../clusters/cluster.service.ts';
import { newEnrollmentBlob } from './blob.ts';
import { joinTicketRepo } from './join-ticket.repo.ts';
import { enrollmentKeyRepo, type EnrollmentKeyWithCluster } from './enrollment-key.repo.ts';
import { FailedVerifications, type VerifiedEventData } from './failed-verifications.ts';

export interface EnrollmentPolicy {
  defaultClusterName: string | null;
  publicEnrollmentKeyEnabled: boolean;
  /** URLs agents are told to use; known only once the server listens. */
  adminUrls: () => string[];
  /** Failed verifications of one key and outcome are recorded once per window. */
  failedVerifyWindowMs: number;
  onError: (error: unknown) => void;
}

/** Outcome of one verification attempt. Registration uses the cluster of a verified key. */
export interface VerifyResult {
  verified: boolean;
  /** null when verified. */
  error: VerifyError | null;
  enrollmentKeyId: string | null;
  clusterId: string | null;
  clusterName: string | null;
  /** Single-use credential for the first registration (sent as `netmaker_key`); null unless verified. */
  joinTicket: string | null;
}

/** How long a verified agent has to register. */
const JOIN_TICKET_TTL_MS = 60 * 60 * 1000;

/** Ecto's `:string` columns are varchar(255) upstream; longer labels were never storable there. */
const NAME_MAX = 255;

type KeyChanges = Partial<Pick<EnrollmentKeyRow, 'name' | 'uses_remaining' | 'expired_at'>>;

export class EnrollmentKeyService {
  private readonly failures: FailedVerifications;

  constructor(
    readonly db: Kysely<Database>,
    readonly outbox: Outbox,
    readonly clusters: ClusterService,
    readonly policy: EnrollmentPolicy,
  ) {
    this.failures = new FailedVerifications(outbox, policy.failedVerifyWindowMs, policy.onError);
  }

  start(): void {
    this.failures.start();
  }

  stop(): Promise<void> {
    return this.failures.stop();
  }

  async createForCluster(clusterName: string, input: EnrollmentKeyCreateRequest): Promise<EnrollmentKey> {
    const fields = normalize(input);
    const now = nowIso();
    const row = await this.db.transaction().execute(async (trx) => {
      const cluster = await this.clusters.require(clusterName, trx);
      const key: EnrollmentKeyRow = {
        id: uuidv7(),
        cluster_id: cluster.id,
        name: fields.name ?? null,
        key: newEnrollmentBlob(this.policy.adminUrls()),
        uses_remaining: fields.uses_remaining === undefined ? 1 : fields.uses_remaining,
        expired_at: fields.expired_at ?? null,
        last_used_at: null,
        inserted_at: now,
        updated_at: now,
      };
      await enrollmentKeyRepo.insert(trx, key);
      return { ...key, cluster_name: cluster.name };
    });
    return render(row);
  }

  /** `POST /clusters/default/enrollment_keys`: only when DEFAULT_CLUSTER_NAME names a cluster. */
  createForDefaultCluster(input: EnrollmentKeyCreateRequest): Promise<EnrollmentKey> {
    if (this.policy.defaultClusterName === null) throw new ForbiddenError();
    return this.createForCluster(this.policy.defaultClusterName, input);
  }

  /** The unauthenticated bootstrap route: always single-use, unnamed, no expiry. */
  createPublic(): Promise<EnrollmentKey> {
    if (!this.policy.publicEnrollmentKeyEnabled || this.policy.defaultClusterName === null) throw new ForbiddenError();
    return this.createForCluster(this.policy.defaultClusterName, {});
  }

  async get(id: string): Promise<EnrollmentKey> {
    return render(await this.require(id));
  }

  async list(query: EnrollmentKeyListQuery): Promise<Page<EnrollmentKey>> {
    const page = await enrollmentKeyRepo.list(this.db, query);
    return { items: page.items.map(render), pagination: page.pagination };
  }

  async update(id: string, input: EnrollmentKeyUpdateRequest): Promise<EnrollmentKey> {
    const fields = normalize(input);
    await this.db.transaction().execute(async (trx) => {
      const current = await this.require(id, trx);
      const changes: KeyChanges = {};
      for (const field of ['name', 'uses_remaining', 'expired_at'] as const) {
        if (fields[field] !== undefined && fields[field] !== current[field]) (changes as Record<string, unknown>)[field] = fields[field];
      }
      // Like an Ecto changeset without changes: nothing written, updated_at kept.
      if (Object.keys(changes).length > 0) await enrollmentKeyRepo.update(trx, id, { ...changes, updated_at: nowIso() });
    });
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    if (!(await enrollmentKeyRepo.delete(this.db, id))) throw new NotFoundError('Enrollment key');
  }

  /**
   * Checks a blob an agent presents and, when it is good, takes one use (edge-admin spec §6.4
   * step 2). Order: unknown → expired → spent → cluster at its node limit → consume. Each
   * success is recorded as `edge.enrollment_key.verified` with the uses left after it, in the
   * transaction that consumed the use; failures are recorded aggregated (failed-verifications.ts).
   */
  verify(blob: string): Promise<VerifyResult> {
    return this.outbox.run(async (trx, emit) => {
      const now = nowIso();
      const key = await enrollmentKeyRepo.findByBlob(trx, blob);
      const finish = (error: VerifyError | null, usesRemaining: number | null, joinTicket: string | null = null): VerifyResult => {
        const data: VerifiedEventData = {
          enrollment_key_id: key?.id ?? null,
          cluster_name: key?.cluster_name ?? null,
          name: key?.name ?? null,
          uses_remaining: key ? usesRemaining : null,
          result: error ?? 'verified',
          verified_at: microsecondTimestamp(new Date(now)),
          attempts: 1,
        };
        if (error === null || this.failures.note(data)) emit('edge.enrollment_key.verified', data);
        return {
          verified: error === null,
          error,
          enrollmentKeyId: key?.id ?? null,
          clusterId: key?.cluster_id ?? null,
          clusterName: key?.cluster_name ?? null,
          joinTicket,
        };
      };

      if (!key) return finish('invalid_key', null);
      if (key.expired_at !== null && key.expired_at < now) return finish('key_expired', key.uses_remaining);
      if (key.uses_remaining === 0) return finish('key_spent', 0);
      if (await clusterIsFull(trx, { id: key.cluster_id, node_limit: key.node_limit })) {
        return finish('node_limit_reached', key.uses_remaining);
      }
      const consumed = await enrollmentKeyRepo.consume(trx, key.id, now);
      if (!consumed) {
        // Another verification took the last use between our read and our update.
        return finish('key_spent', (await enrollmentKeyRepo.usesRemaining(trx, key.id)) ?? 0);
      }
      const ticket = await joinTicketRepo.issue(trx, key.cluster_id, new Date(Date.parse(now) + JOIN_TICKET_TTL_MS).toISOString());
      return finish(null, consumed.uses_remaining, ticket);
    });
  }

  private async require(id: string, db: Kysely<Database> = this.db): Promise<EnrollmentKeyWithCluster> {
    const key = await enrollmentKeyRepo.findById(db, id);
    if (!key) throw new NotFoundError('Enrollment key');
    return key;
  }
}

/**
 * Request fields in their stored form; absent fields stay absent. Blank labels become null (Ecto's
 * empty-value rule), and expiries are kept at the second precision they are shown with, so range
 * filters match what users see.
 */
function normalize(input: EnrollmentKeyCreateRequest | EnrollmentKeyUpdateRequest): KeyChanges {
  const fields = input ?? {};
  const errors: Record<string, string[]> = {};
  const out: KeyChanges = {};
  if (fields.name !== undefined) {
    const name = fields.name === null || fields.name.trim() === '' ? null : fields.name;
    if (name !== null && [...name].length > NAME_MAX) errors.name = [`should be at most ${NAME_MAX} character(s)`];
    out.name = name;
  }
  if (fields.uses_remaining !== undefined) out.uses_remaining = fields.uses_remaining;
  if (fields.expired_at !== undefined) {
    out.expired_at = fields.expired_at === null ? null : `${storedTimestamp(fields.expired_at).slice(0, 19)}.000Z`;
  }
  if (Object.keys(errors).length > 0) throw new ValidationError(errors);
  return out;
}

function render(row: EnrollmentKeyWithCluster): EnrollmentKey {
  return {
    id: row.id,
    cluster_name: row.cluster_name,
    name: row.name,
    key: row.key,
    uses_remaining: row.uses_remaining,
    expired_at: toSecondPrecision(row.expired_at),
    last_used_at: toSecondPrecision(row.last_used_at),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
