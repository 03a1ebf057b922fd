/**
 * Command executions: the state machine of edge-admin spec §8.3 and everything that drives it —
 * Admin API reads, cancel and delete; the agent's list, acknowledge and result; the expiry sweep and
 * pruning. Each transition is one conditional UPDATE plus its event, in one transaction.
 */
import type { Kysely } from 'kysely';
import type { CancelExecutionData, CommandExecution, CommandExecutionListQuery } from '../../../contract/admin/commands.ts';
import type { AgentCommandExecution, AgentExecutionListQuery, ExecutionResultRequest } from '../../../contract/agents/executions.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError } from '../../errors.ts';
import type { Outbox } from '../../events/outbox.ts';
import { nowIso, storedTimestamp } from '../../lib/time.ts';
import type { ExecutionDelivery } from './execution-delivery.ts';
import { type ExecutionRecord, type ExecutionStatus, executionRepo, OPEN_STATUSES } from './execution.repo.ts';
import { agentExecutionView, executionEventData, executionView } from './views.ts';
import type { NodePrincipal, Principal } from '../../principal.ts';
import { canTouchNode, nodeScopeOf } from '../../access.ts';

type Db = Kysely<Database>;

/** Rows per sweep transaction: bounded work and bind parameters per statement. */
const EXPIRY_BATCH = 500;
const PRUNE_BATCH = 1000;

/** SIGTERM: the agent killed the process because it was cancelled. */
const CANCELLED_EXIT_CODE = 143;

const RESULT_EVENT = {
  completed: 'edge.command_execution.completed',
  cancelled: 'edge.command_execution.cancelled',
  expired: 'edge.command_execution.expired',
} as const;

/** Upstream renders the missing exit code with Elixir's `inspect(nil)`; agents see the same text. */
const exitCodeText = (code: number | null) => (code === null ? 'nil' : String(code));

export class ExecutionService {
  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly delivery: ExecutionDelivery,
  ) {}

  // ── Admin API ────────────────────────────────────────────────────────────────────────────────

  async list(principal: Principal, query: CommandExecutionListQuery): Promise<Page<CommandExecution>> {
    const page = await executionRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(executionView), pagination: page.pagination };
  }

  async get(principal: Principal, id: string): Promise<CommandExecution> {
    return executionView(await this.requireVisible(principal, id, true));
  }

  async delete(principal: Principal, id: string): Promise<void> {
    const execution = await this.requireVisible(principal, id);
    if (!(await executionRepo.deleteTerminal(this.db, id))) {
      throw new ConflictError(`cannot delete execution with status '${execution.status}' - only completed, cancelled, or expired executions can be deleted`);
    }
  }

  /**
   * pending → cancelled at once. A sent execution stays sent: the agent is asked to kill it and
   * reports the real outcome (143 → cancelled, or completed if it had already finished).
   */
  async cancel(principal: Principal, id: string): Promise<CancelExecutionData> {
    let execution = await this.requireVisible(principal, id);
    if (execution.status === 'pending') {
      const cancelled = await this.outbox.run(async (trx, emit) => {
        if (!(await executionRepo.cancelPending(trx, id, nowIso()))) return false;
        emit('edge.command_execution.cancelled', executionEventData(await this.require(trx, id)));
        return true;
      });
      if (cancelled) return { result: 'execution cancelled' };
      // Acknowledged (or finished) in the meantime: judge the row as it is now.
      execution = await this.require(this.db, id);
    }
    if (execution.status !== 'sent') {
      throw new ConflictError(`cannot cancel execution with status '${execution.status}' - only 'pending' or 'sent' executions can be cancelled`);
    }
    if (execution.node_id === null) return this.cancelOrphan(id);
    if (!(await this.delivery.cancel(execution.node_id, id))) throw new UnavailableError();
    return { result: 'cancellation request sent' };
  }

  /**
   * A sent execution whose node was deleted can never be cancelled by its agent nor report back;
   * by our decision (the spec is silent) it is cancelled here, so its command can be deleted.
   */
  private async cancelOrphan(id: string): Promise<CancelExecutionData> {
    return this.outbox.run(async (trx, emit) => {
      const now = nowIso();
      if (!(await executionRepo.cancelOrphan(trx, id, now))) throw new ConflictError('execution is no longer cancellable');
      emit('edge.command_execution.cancelled', executionEventData(await this.require(trx, id)));
      return { result: 'execution cancelled' } as const;
    });
  }

  // ── Agent API ────────────────────────────────────────────────────────────────────────────────

  async listForNode({ id: nodeId }: NodePrincipal, query: AgentExecutionListQuery): Promise<Page<AgentCommandExecution>> {
    const page = await executionRepo.listForNode(this.db, nodeId, query);
    return { items: page.items.map(agentExecutionView), pagination: page.pagination };
  }

  /** The single pending → sent transition: of any number of concurrent claims exactly one wins. */
  async acknowledge({ id: nodeId }: NodePrincipal, id: string): Promise<AgentCommandExecution> {
    return this.outbox.run(async (trx, emit) => {
      await this.requireOwn(trx, nodeId, id);
      if (!(await executionRepo.markSent(trx, id, nowIso()))) {
        const current = await this.require(trx, id);
        throw new ConflictError(`execution is in '${current.status}' status and cannot be acknowledged (must be 'pending')`);
      }
      const sent = await this.require(trx, id);
      emit('edge.command_execution.sent', executionEventData(sent));
      return agentExecutionView(sent);
    });
  }

  /**
   * The agent's result (§8.3): 143 → cancelled, a reported `expired` → expired, else completed.
   *
   * Idempotent on retry: agents resend a result whose answer they did not receive. A report that
   * matches what is already recorded (same resulting status, exit code and output, after a result
   * was stored) answers 200 with the execution as it is and changes nothing, so the agent stops
   * retrying instead of being told 409 forever. Any other report for a row that accepts none is 409.
   */
  async reportResult({ id: nodeId }: NodePrincipal, id: string, input: ExecutionResultRequest): Promise<AgentCommandExecution> {
    const status: ExecutionStatus = input.exit_code === CANCELLED_EXIT_CODE ? 'cancelled' : input.status === 'expired' ? 'expired' : 'completed';
    const now = nowIso();
    const report = {
      status,
      output: input.output ?? undefined,
      exit_code: input.exit_code ?? undefined,
      completed_at: input.completed_at ? storedTimestamp(input.completed_at) : now,
      now,
    };
    return this.outbox.run(async (trx, emit) => {
      const current = await this.requireOwn(trx, nodeId, id, true);
      if (alreadyRecorded(current, report)) return agentExecutionView(current);
      if (!(await executionRepo.applyResult(trx, id, report))) {
        // Lost a race with an identical report (Postgres re-checks the row after the winner commits)?
        const latest = await this.require(trx, id, true);
        if (alreadyRecorded(latest, report)) return agentExecutionView(latest);
        throw new ConflictError(`execution is in '${latest.status}' status (exit_code: ${exitCodeText(latest.exit_code)}) and cannot be updated`);
      }
      const updated = await this.require(trx, id);
      emit(RESULT_EVENT[status as keyof typeof RESULT_EVENT], executionEventData(updated));
      return agentExecutionView(updated);
    });
  }

  // ── Background work ─────────────────────────────────────────────────────────────────────────

  /**
   * Expires open executions whose command's deadline has passed, for nodes of `clusterIds` (and
   * node-less ones when `orphans`). A sent one is first asked to stop (best effort: it is marked
   * expired regardless, and a late result is still accepted). Returns how many expired.
   */
  async expireDue(clusterIds: string[], orphans: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const now = nowIso();
      const batch = await executionRepo.expiredCandidates(this.db, now, clusterIds, orphans, EXPIRY_BATCH);
      if (batch.length === 0) return total;
      await Promise.all(batch.map((e) => (e.status === 'sent' && e.node_id !== null ? this.delivery.cancel(e.node_id, e.id).catch(() => false) : false)));
      total += await this.outbox.run(async (trx, emit) => {
        const expired = await executionRepo.expire(
          trx,
          batch.map((e) => e.id),
          now,
        );
        for (const record of await executionRepo.findMany(trx, expired)) emit('edge.command_execution.expired', executionEventData(record));
        return expired.length;
      });
      if (batch.length < EXPIRY_BATCH) return total;
    }
  }

  /** Deletes finalised executions inserted before `cutoff`, each announced by a `pruned` event. */
  async pruneBefore(cutoff: string): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = await executionRepo.finalisedBefore(this.db, cutoff, PRUNE_BATCH);
      if (ids.length === 0) return total;
      await this.outbox.run(async (trx, emit) => {
        for (const record of await executionRepo.findMany(trx, ids)) emit('edge.command_execution.pruned', executionEventData(record));
        await executionRepo.deleteMany(trx, ids);
      });
      total += ids.length;
      if (ids.length < PRUNE_BATCH) return total;
    }
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private async require(db: Db, id: string, withOutput = false): Promise<ExecutionRecord> {
    const execution = await executionRepo.find(db, id, { withOutput });
    if (!execution) throw new NotFoundError('Command execution');
    return execution;
  }

  /** An execution on a node outside the caller's scope (or on a node that is gone, for a restricted caller) does not exist for them. */
  private async requireVisible(principal: Principal, id: string, withOutput = false): Promise<ExecutionRecord> {
    const execution = await this.require(this.db, id, withOutput);
    if (nodeScopeOf(principal) !== null && (execution.node_id === null || !canTouchNode(principal, execution.node_id))) {
      throw new NotFoundError('Command execution');
    }
    return execution;
  }

  /** 404 for an unknown id, 403 for another node's execution (including one whose node is gone). */
  private async requireOwn(db: Db, nodeId: string, id: string, withOutput = false): Promise<ExecutionRecord> {
    const execution = await this.require(db, id, withOutput);
    if (execution.node_id !== nodeId) throw new ForbiddenError();
    return execution;
  }
}

/** Whether this exact result is already stored (a retry); placeholders without a result never match. */
function alreadyRecorded(current: ExecutionRecord, report: { status: ExecutionStatus; output?: string; exit_code?: number }): boolean {
  return (
    current.completed_at !== null &&
    !OPEN_STATUSES.includes(current.status) &&
    current.status === report.status &&
    current.exit_code === (report.exit_code ?? null) &&
    (current.output ?? null) === (report.output ?? null)
  );
}
