/**
 * The audit log: who did what to which target, when, from where, and how it was answered. Faces
 * record every state-changing call and every login (refused ones too); each row is published as an
 * `audit.recorded` event in the same transaction, so webhooks carry the trail. Rows older than the
 * events retention are pruned with the events.
 */
import type { Kysely } from 'kysely';
import type { AuditActorType, AuditListQuery, AuditRecord } from '../../../contract/admin/audit.ts';
import { assertRole } from '../../access.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { AuditLogRow } from '../../db/tables/audit-settings.ts';
import type { Outbox } from '../../events/outbox.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso } from '../../lib/time.ts';
import type { Principal } from '../../principal.ts';
import { auditRepo } from './audit.repo.ts';

const DAY_MS = 86_400_000;

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

export class AuditService {
  constructor(private readonly deps: AuditDeps) {}

  async record(entry: AuditEntry): Promise<AuditRecord> {
    const row: AuditLogRow = {
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
    const record = view(row);
    await this.deps.outbox.run(async (trx, emit) => {
      await auditRepo.insert(trx, row);
      emit('audit.recorded', record);
    });
    return record;
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

function view(row: AuditLogRow): AuditRecord {
  return {
    ...row,
    actor_type: row.actor_type as AuditActorType,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
  };
}
