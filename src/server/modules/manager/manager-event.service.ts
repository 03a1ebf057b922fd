/**
 * The manager's events over REST (manager spec §5.4): list with filters, count the unacknowledged,
 * acknowledge; all narrowed to the caller's nodes (an event of a node outside the scope does not
 * exist for them). Retention prunes them with the operator's `events_retention_days`.
 */
import type { Kysely } from 'kysely';
import type { ManagerEvent, ManagerEventListQuery } from '../../../contract/manager/events.ts';
import { assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Database } from '../../db/schema.ts';
import type { ManagerEventRow } from '../../db/tables/manager.ts';
import { NotFoundError } from '../../errors.ts';
import type { Principal } from '../../principal.ts';
import { managerEventsRepo } from './manager-events.repo.ts';

const DAY_MS = 86_400_000;

export interface ManagerEventServiceDeps {
  db: Kysely<Database>;
  /** Read on every pass (an operator setting); 0 keeps every event. */
  retentionDays: () => number;
}

export class ManagerEventService {
  constructor(private readonly deps: ManagerEventServiceDeps) {}

  async list(principal: Principal, query: ManagerEventListQuery): Promise<ManagerEvent[]> {
    const perPage = query.per_page ?? 50;
    const rows = await managerEventsRepo.list(
      this.deps.db,
      {
        nodeId: query.node_id,
        severity: query.severity,
        category: query.category,
        flowId: query.flow_id,
        search: query.search,
        // Stored times are UTC ISO text: bounds in another offset compare correctly once normalized.
        from: query.from === undefined ? undefined : new Date(query.from).toISOString(),
        to: query.to === undefined ? undefined : new Date(query.to).toISOString(),
      },
      nodeScopeOf(principal),
      { limit: perPage, offset: ((query.page ?? 1) - 1) * perPage },
    );
    return rows.map(render);
  }

  async countUnacknowledged(principal: Principal): Promise<{ count: number }> {
    return { count: await managerEventsRepo.countUnacknowledged(this.deps.db, nodeScopeOf(principal)) };
  }

  async acknowledge(principal: Principal, id: number): Promise<void> {
    const event = await managerEventsRepo.find(this.deps.db, id);
    if (!event) throw new NotFoundError('Event');
    assertNodeAccess(principal, event.node_id, 'Event');
    await managerEventsRepo.acknowledge(this.deps.db, id, principal.type === 'operator' ? principal.id : null);
  }

  async prune(now = Date.now()): Promise<number> {
    const days = this.deps.retentionDays();
    if (days === 0) return 0;
    return managerEventsRepo.pruneBefore(this.deps.db, new Date(now - days * DAY_MS).toISOString());
  }
}

function render(row: ManagerEventRow): ManagerEvent {
  return {
    // Postgres answers a bigint as a string.
    id: Number(row.id),
    node_id: row.node_id,
    severity: row.severity,
    category: row.category,
    message: row.message,
    details: row.details === null ? null : JSON.parse(row.details),
    flow_id: row.flow_id,
    created_at: row.created_at,
    acknowledged: Number(row.acknowledged) === 1,
    acknowledged_by: row.acknowledged_by,
  };
}
