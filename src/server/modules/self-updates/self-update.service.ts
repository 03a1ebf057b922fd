/**
 * Self-update requests (edge-admin spec §10). Creation stores the request and leaves the work to a
 * durable job (queue `self_updates`): resolve the targeting with the forced filters (healthy nodes
 * with self-update enabled), trigger each node over its live channel, then record the summary and
 * the events in one transaction. Agents that poll ask `check` instead.
 */
import type { Kysely } from 'kysely';
import type { SelfUpdateRequest, SelfUpdateRequestCreateRequest, SelfUpdateRequestListQuery, SelfUpdateSummary } from '../../../contract/admin/self-updates.ts';
import type { NodeFilters, Targeting } from '../../../contract/admin/targeting.ts';
import type { SelfUpdateCheck } from '../../../contract/agents/self-updates.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { DropJob, enqueue, type Job } from '../../jobs/job-queue.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { loadEdgeNodeEventData } from '../nodes/node-events.ts';
import { resolveTargeting, targetingErrors } from '../targeting/targeting.ts';
import { type SelfUpdateRequestRow, selfUpdateRepo } from './self-update.repo.ts';
import type { UpdateTrigger } from './update-trigger.ts';
import type { NodePrincipal, Principal } from '../../principal.ts';
import { nodeScopeOf } from '../../access.ts';
import { decodeScope, encodeScope } from '../../db/scope.ts';

export const SELF_UPDATES_QUEUE = 'self_updates';

/** Only these nodes are ever updated, whatever the request's own node filters say. */
const FORCED_FILTERS: Partial<NodeFilters> = { status: 'healthy', self_update_enabled: true };

const EVENT_CHUNK = 2000;

export interface SelfUpdateDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  trigger: UpdateTrigger;
  config: { selfUpdateAckTimeoutMs: number };
}

interface ProcessPayload {
  self_update_request_id: string;
}

export class SelfUpdateService {
  private readonly db: Kysely<Database>;
  private readonly trigger: UpdateTrigger;

  constructor(readonly deps: SelfUpdateDeps) {
    this.db = deps.db;
    this.trigger = deps.trigger;
  }

  // ── Admin API ────────────────────────────────────────────────────────────────────────────────

  async create(principal: Principal, input: SelfUpdateRequestCreateRequest): Promise<SelfUpdateRequest> {
    const errors = targetingErrors(input.targeting);
    if (Object.keys(errors).length > 0) throw new ValidationError(errors);
    const now = nowIso();
    const row: SelfUpdateRequestRow = {
      id: uuidv7(),
      targeting: JSON.stringify(input.targeting),
      node_scope: encodeScope(nodeScopeOf(principal)),
      status: 'pending',
      summary: null,
      inserted_at: now,
      updated_at: now,
    };
    await this.deps.outbox.run(async (trx) => {
      await selfUpdateRepo.insert(trx, row);
      await enqueue(trx, SELF_UPDATES_QUEUE, { self_update_request_id: row.id } satisfies ProcessPayload, { maxAttempts: 3 });
    });
    return view(row);
  }

  async list(principal: Principal, query: SelfUpdateRequestListQuery): Promise<Page<SelfUpdateRequest>> {
    const page = await selfUpdateRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(view), pagination: page.pagination };
  }

  async get(principal: Principal, id: string): Promise<SelfUpdateRequest> {
    return view(await this.require(principal, id));
  }

  /**
   * A restricted caller sees only requests made under exactly their scope, which cannot have
   * reached a node outside it: the commands' "reached other nodes too" refusal has no case here.
   */
  async delete(principal: Principal, id: string): Promise<void> {
    const row = await this.require(principal, id);
    if (!(await selfUpdateRepo.deleteCompleted(this.db, id))) {
      throw new ConflictError(`cannot delete self-update request with status '${row.status}' - only completed requests can be deleted`);
    }
  }

  // ── Agent API ────────────────────────────────────────────────────────────────────────────────

  /** Whether the newest request (with the forced filters) reaches the caller; the agent decides the rest. */
  async check({ id: nodeId }: NodePrincipal): Promise<SelfUpdateCheck> {
    const newest = await selfUpdateRepo.newest(this.db);
    if (!newest) return { including_me: false, inserted_at: null };
    const { nodes } = await resolveTargeting(this.db, JSON.parse(newest.targeting) as Targeting, {
      forcedNodeFilters: FORCED_FILTERS,
      onlyNodeId: nodeId,
      scope: decodeScope(newest.node_scope),
    });
    return { including_me: nodes.length > 0, inserted_at: toSecondPrecision(newest.inserted_at) };
  }

  // ── Background work ─────────────────────────────────────────────────────────────────────────

  /**
   * The `self_updates` job. A retry after a crash triggers the nodes again (the agent knows whether
   * it already runs the version); the summary and events are written once, with the completion.
   */
  async process(job: Job<ProcessPayload>): Promise<void> {
    const id = job.payload.self_update_request_id;
    const request = await selfUpdateRepo.find(this.db, id);
    if (!request) throw new DropJob();
    if (request.status === 'completed') return;
    await selfUpdateRepo.update(this.db, id, { status: 'processing', updated_at: nowIso() });

    const targeting = JSON.parse(request.targeting) as Targeting;
    const { nodes } = await resolveTargeting(this.db, targeting, { forcedNodeFilters: FORCED_FILTERS, scope: decodeScope(request.node_scope) });
    const nodeIds = nodes.map((n) => n.id);
    const triggered = await this.trigger.triggerAll(id, nodeIds, Date.now() + this.deps.config.selfUpdateAckTimeoutMs);
    const summary: SelfUpdateSummary = { total: nodeIds.length, triggered: triggered.size, failed: nodeIds.length - triggered.size };

    // In chunks: one transaction's events are one INSERT, and bind parameters are bounded.
    const accepted = nodeIds.filter((nodeId) => triggered.has(nodeId));
    for (let i = 0; i < accepted.length; i += EVENT_CHUNK) {
      await this.deps.outbox.run(async (trx, emit) => {
        for (const nodeId of accepted.slice(i, i + EVENT_CHUNK)) {
          const data = await loadEdgeNodeEventData(trx, nodeId);
          if (data) emit('edge.node.update_triggered', { ...data, self_update_request_id: id });
        }
      });
    }
    await this.deps.outbox.run(async (trx, emit) => {
      const now = nowIso();
      await selfUpdateRepo.update(trx, id, { status: 'completed', summary: JSON.stringify(summary), updated_at: now });
      emit('edge.self_update_request.completed', {
        self_update_request_id: id,
        status: 'completed',
        targeting,
        summary,
        inserted_at: toSecondPrecision(request.inserted_at),
        updated_at: toSecondPrecision(now),
      });
    });
  }

  private async require(principal: Principal, id: string): Promise<SelfUpdateRequestRow> {
    const row = await selfUpdateRepo.findVisible(this.db, id, nodeScopeOf(principal));
    if (!row) throw new NotFoundError('Self-update request');
    return row;
  }
}

function view(row: SelfUpdateRequestRow): SelfUpdateRequest {
  return {
    id: row.id,
    targeting: JSON.parse(row.targeting),
    status: row.status,
    summary: row.summary === null ? null : JSON.parse(row.summary),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
