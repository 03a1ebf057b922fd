/**
 * The audit log: who did what to which target, when, from where, and how it was answered. Faces
 * record every state-changing call and every login (refused ones too); each row is published as an
 * `audit.recorded` event in the same transaction, so webhooks carry the trail. Rows older than the
 * events retention are pruned with the events.
 *
 * Refusals nobody can be named for (unauthenticated calls, failed logins) are bounded per client
 * address (events/windowed-tally.ts): the first `refusalsPerAddress` of a window are recorded one
 * by one, the rest as one `auth.refusals_aggregated` row per address and window, counted by action.
 * Refusals of a known caller (a 403) are attributable and always recorded one by one.
 */
import type { Kysely } from 'kysely';
import type { AuditActorType, AuditListQuery, AuditRecord } from '../../../contract/admin/audit.ts';
import { assertRole } from '../../access.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { AuditLogRow } from '../../db/tables/audit-settings.ts';
import type { Outbox } from '../../events/outbox.ts';
import { WindowedTally } from '../../events/windowed-tally.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso } from '../../lib/time.ts';
import type { Principal } from '../../principal.ts';
import { auditRepo } from './audit.repo.ts';

const DAY_MS = 86_400_000;

const REFUSALS_AGGREGATED = 'auth.refusals_aggregated';

/** Addresses tallied at once; past it, new addresses share one row whose `ip` is null. */
const MAX_ADDRESSES = 10_000;
const MANY_ADDRESSES = '*';

/** The `details` of an `auth.refusals_aggregated` row. */
interface RefusalSummary {
  /** Refusals from the address not recorded one by one. */
  refusals: number;
  /** The same, by action (`cluster.create`, `auth.login_failed`…). */
  actions: Record<string, number>;
  first_at: string;
  last_at: string;
}

export interface AuditEntry {
  actorType: AuditActorType;
  actorId: string | null;
  actorName: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  /** Days rows are kept (the events retention); 0 keeps every row. */
  retentionDays: () => number;
  /** Unattributed refusals recorded one by one per client address and window; the rest are aggregated. */
  refusalsPerAddress: number;
  refusalsWindowMs: number;
  onError: (error: unknown) => void;
}

/**
 * Recorded values come from the caller (paths, ids, attempted usernames): Postgres text refuses
 * NUL, and a row must never fail because of what an attacker typed, so NUL is replaced and
 * lengths are bounded.
 */
function clean(value: string, max: number): string;
function clean(value: string | null, max: number): string | null;
function clean(value: string | null, max: number): string | null {
  return value === null ? null : value.replaceAll('\0', '\uFFFD').slice(0, max);
}

/** A refused call nobody can be named for: the public's, or a failed login (a form's is a redirect). */
const unattributedRefusal = (entry: AuditEntry) => entry.actorType === 'public' && (entry.status >= 400 || entry.action === 'auth.login_failed');

export class AuditService {
  private readonly refusals: WindowedTally<RefusalSummary>;

  constructor(private readonly deps: AuditDeps) {
    this.refusals = new WindowedTally({
      windowMs: deps.refusalsWindowMs,
      limit: deps.refusalsPerAddress,
      maxKeys: MAX_ADDRESSES,
      sharedKey: MANY_ADDRESSES,
      onError: deps.onError,
      record: async (due) => {
        await this.insert(due.map(([address, summary]) => rowOf(aggregateOf(address, summary))));
      },
    });
  }

  start(): void {
    this.refusals.start();
  }

  /** Records the refusals still tallied. */
  stop(): Promise<void> {
    return this.refusals.stop();
  }

  /** Records an entry; null when it was an unattributed refusal over its address's limit, tallied instead. */
  async record(entry: AuditEntry): Promise<AuditRecord | null> {
    if (unattributedRefusal(entry)) {
      const at = nowIso();
      const fold = (summary: RefusalSummary | null): RefusalSummary => {
        const tally = summary ?? { refusals: 0, actions: {}, first_at: at, last_at: at };
        tally.refusals += 1;
        tally.actions[entry.action] = (tally.actions[entry.action] ?? 0) + 1;
        tally.last_at = at;
        return tally;
      };
      if (!this.refusals.note(entry.ip ?? '', fold)) return null;
    }
    const [record] = await this.insert([rowOf(entry)]);
    return record!;
  }

  private async insert(rows: AuditLogRow[]): Promise<AuditRecord[]> {
    const records = rows.map(view);
    await this.deps.outbox.run(async (trx, emit) => {
      for (const [i, row] of rows.entries()) {
        await auditRepo.insert(trx, row);
        emit('audit.recorded', records[i]!);
      }
    });
    return records;
  }

  async list(principal: Principal, query: AuditListQuery): Promise<Page<AuditRecord>> {
    assertRole(principal, 'admin');
    const { per_page, page_size, ...filters } = query;
    const page = await auditRepo.list(this.deps.db, { ...filters, page_size: per_page ?? page_size });
    return { ...page, items: page.items.map(view) };
  }

  /** The newest `limit` records, for an export's `audit_log`. */
  async recent(db: Kysely<Database>, limit: number): Promise<AuditRecord[]> {
    return (await auditRepo.recent(db, limit)).map(view);
  }

  /** Deletes rows older than the retention as of `now`; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    const days = this.deps.retentionDays();
    if (days === 0) return 0;
    return auditRepo.deleteOlderThan(this.deps.db, new Date(now - days * DAY_MS).toISOString());
  }
}

function rowOf(entry: AuditEntry): AuditLogRow {
  return {
    id: uuidv7(),
    at: nowIso(),
    actor_type: entry.actorType,
    actor_id: clean(entry.actorId, 256),
    actor_name: clean(entry.actorName, 256),
    action: clean(entry.action, 128),
    target_type: clean(entry.targetType, 128),
    target_id: clean(entry.targetId, 256),
    method: clean(entry.method, 16),
    path: clean(entry.path, 2048),
    status: entry.status,
    ip: clean(entry.ip, 64),
    // JSON text escapes NUL, so details need no cleaning.
    details: entry.details === null ? null : JSON.stringify(entry.details),
  };
}

/** The row standing for an address's refusals of one window that were not recorded one by one. */
function aggregateOf(address: string, summary: RefusalSummary): AuditEntry {
  const many = address === MANY_ADDRESSES;
  return {
    actorType: 'public',
    actorId: null,
    actorName: null,
    action: REFUSALS_AGGREGATED,
    targetType: null,
    targetId: null,
    // Many calls, no single request: no method, path or answer of its own.
    method: '',
    path: '',
    status: 0,
    ip: many || address === '' ? null : address,
    details: { ...summary, ...(many && { many_addresses: true }) },
  };
}

function view(row: AuditLogRow): AuditRecord {
  return {
    ...row,
    actor_type: row.actor_type as AuditActorType,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
  };
}
