import type { Kysely } from 'kysely';
import type { Database, EnrollmentKeyRow } from '../../db/schema.ts';
import {
  atLeast,
  atMost,
  dateRange,
  equals,
  type Filter,
  type ListInput,
  type Page,
  paginate,
  present,
  textFilter,
  timestampFilters,
} from '../../db/listing.ts';
import { nowIso } from '../../lib/time.ts';

export type Db = Kysely<Database>;

export type EnrollmentKeyWithCluster = EnrollmentKeyRow & { cluster_name: string };

/** What a verification needs to decide, read in one query. */
export type VerifiableKey = EnrollmentKeyWithCluster & { node_limit: number | null };

const USES = 'enrollment_keys.uses_remaining';
const EXPIRED_AT = 'enrollment_keys.expired_at';

/** Filters of GET /api/v1/enrollment_keys (edge-admin spec §4.3, §4.5). */
export const enrollmentKeyFilters: Record<string, Filter> = {
  // A comma list is ignored for the joined cluster name, as upstream does.
  cluster_name: textFilter('clusters.name', { inList: false }),
  name: textFilter('enrollment_keys.name'),
  has_name: present('enrollment_keys.name'),
  key: textFilter('enrollment_keys.key'),
  uses_remaining: equals(USES),
  is_unlimited: (eb, v: boolean) => present(USES)(eb, !v),
  is_spent: (eb, v: boolean) => (v ? eb(eb.ref(USES), '=', 0) : eb.or([eb(eb.ref(USES), '<>', 0), eb(eb.ref(USES), 'is', null)])),
  // "now" is read per query, so the same request never mixes two instants.
  is_expired: (eb, v: boolean) => {
    const now = nowIso();
    return v
      ? eb.and([eb(eb.ref(EXPIRED_AT), 'is not', null), eb(eb.ref(EXPIRED_AT), '<', now)])
      : eb.or([eb(eb.ref(EXPIRED_AT), 'is', null), eb(eb.ref(EXPIRED_AT), '>=', now)]);
  },
  is_never_used: (eb, v: boolean) => present('enrollment_keys.last_used_at')(eb, !v),
  has_expiry: present(EXPIRED_AT),
  uses_remaining__gte: atLeast(USES),
  uses_remaining__lte: atMost(USES),
  ...dateRange('expired_at', EXPIRED_AT),
  ...dateRange('last_used_at', 'enrollment_keys.last_used_at'),
  ...timestampFilters('enrollment_keys'),
};

const withCluster = (db: Db) =>
  db
    .selectFrom('enrollment_keys')
    .innerJoin('clusters', 'clusters.id', 'enrollment_keys.cluster_id')
    .selectAll('enrollment_keys')
    .select('clusters.name as cluster_name');

export const enrollmentKeyRepo = {
  async insert(db: Db, row: EnrollmentKeyRow): Promise<void> {
    await db.insertInto('enrollment_keys').values(row).execute();
  },

  findById(db: Db, id: string): Promise<EnrollmentKeyWithCluster | undefined> {
    return withCluster(db).where('enrollment_keys.id', '=', id).executeTakeFirst();
  },

  findByBlob(db: Db, blob: string): Promise<VerifiableKey | undefined> {
    return withCluster(db).select('clusters.node_limit').where('enrollment_keys.key', '=', blob).executeTakeFirst();
  },

  list(db: Db, input: ListInput): Promise<Page<EnrollmentKeyWithCluster>> {
    return paginate(withCluster(db), input, {
      filters: enrollmentKeyFilters,
      sortable: {
        name: 'enrollment_keys.name',
        uses_remaining: USES,
        expired_at: EXPIRED_AT,
        last_used_at: 'enrollment_keys.last_used_at',
        inserted_at: 'enrollment_keys.inserted_at',
        updated_at: 'enrollment_keys.updated_at',
      },
      tieBreaker: 'enrollment_keys.id',
    });
  },

  async update(db: Db, id: string, changes: Partial<Pick<EnrollmentKeyRow, 'name' | 'uses_remaining' | 'expired_at'>> & { updated_at: string }): Promise<void> {
    await db.updateTable('enrollment_keys').set(changes).where('id', '=', id).execute();
  },

  /**
   * Takes one use, atomically: the condition is re-checked by the UPDATE itself, so of two
   * racing verifications of a single-use key exactly one gets a row back. Returns the
   * post-consumption `uses_remaining` (null = unlimited), or undefined when nothing was left.
   */
  async consume(db: Db, id: string, now: string): Promise<{ uses_remaining: number | null } | undefined> {
    return (
      db
        .updateTable('enrollment_keys')
        // null - 1 is null on both engines, so unlimited keys stay unlimited.
        .set((eb) => ({ uses_remaining: eb(eb.ref('uses_remaining'), '-', 1), last_used_at: now, updated_at: now }))
        .where('id', '=', id)
        .where((eb) => eb.or([eb('uses_remaining', 'is', null), eb('uses_remaining', '>', 0)]))
        .returning('uses_remaining')
        .executeTakeFirst()
    );
  },

  async usesRemaining(db: Db, id: string): Promise<number | null | undefined> {
    const row = await db.selectFrom('enrollment_keys').select('uses_remaining').where('id', '=', id).executeTakeFirst();
    return row?.uses_remaining;
  },

  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('enrollment_keys').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
