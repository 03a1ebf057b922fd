/**
 * Commands (edge-admin spec §8): creation answers at once and leaves the fan-out to a durable job
 * (queue `execution_creation`), which inserts one pending execution per targeted node and pushes
 * each to its agent's live channel right after commit. Executions themselves — their state machine,
 * sweeps and agent routes — live in ExecutionService (`this.executions`).
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Command, CommandCreateRequest, CommandListQuery } from '../../../contract/admin/commands.ts';
import type { Targeting } from '../../../contract/admin/targeting.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { nodeScopeOf } from '../../access.ts';
import { decodeScope, encodeScope } from '../../db/scope.ts';
import type { Principal } from '../../principal.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError, type ValidationDetails } from '../../errors.ts';
import type { Outbox } from '../../events/outbox.ts';
import { DropJob, enqueue, type Job } from '../../jobs/job-queue.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso, storedTimestamp } from '../../lib/time.ts';
import { clusterRepo } from '../clusters/cluster.repo.ts';
import { resolveTargeting, targetingErrors } from '../targeting/targeting.ts';
import { type CommandRow, commandRepo } from './command.repo.ts';
import { ExecutionDelivery } from './execution-delivery.ts';
import { type ExecutionRecord, type ExecutionRow, executionRepo } from './execution.repo.ts';
import { ExecutionService } from './execution.service.ts';
import type { NodeChannels } from '../../channels/node-channels.ts';
import { commandView, executionEventData } from './views.ts';

export const EXECUTION_CREATION_QUEUE = 'execution_creation';

interface CreationPayload {
  command_id: string;
}

/**
 * Executions per transaction of the fan-out. Each transaction's events go out in one INSERT of 4
 * bind parameters per event (SQLite allows 32,766), and agents of the first chunk are pushed their
 * work while the next chunk is written.
 */
const CREATION_CHUNK = 2500;

const DAY_MS = 86_400_000;

export interface CommandDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  channels: NodeChannels;
  log: Logger;
  config: { executionRetentionDays: number };
}

export class CommandService {
  readonly executions: ExecutionService;
  private readonly db: Kysely<Database>;
  private readonly delivery: ExecutionDelivery;

  constructor(readonly deps: CommandDeps) {
    this.db = deps.db;
    this.delivery = new ExecutionDelivery(deps.db, deps.channels, deps.log);
    this.executions = new ExecutionService(deps.db, deps.outbox, this.delivery);
  }

  // ── Admin API ────────────────────────────────────────────────────────────────────────────────

  async create(principal: Principal, input: CommandCreateRequest): Promise<Command> {
    const errors: ValidationDetails = {};
    if (input.command_text.trim() === '') errors.command_text = ['cannot be empty or only whitespace'];
    const expiredAt = input.expired_at == null ? null : storedTimestamp(input.expired_at);
    if (expiredAt !== null && expiredAt <= nowIso()) errors.expired_at = ['must be in the future'];
    Object.assign(errors, targetingErrors(input.targeting));
    if (Object.keys(errors).length > 0) throw new ValidationError(errors);

    const now = nowIso();
    const row: CommandRow = {
      id: uuidv7(),
      command_text: input.command_text,
      timeout: input.timeout ?? null,
      expired_at: expiredAt,
      targeting: JSON.stringify(input.targeting),
      node_scope: encodeScope(nodeScopeOf(principal)),
      inserted_at: now,
      updated_at: now,
    };
    await this.deps.outbox.run(async (trx) => {
      await commandRepo.insert(trx, row);
      await enqueue(trx, EXECUTION_CREATION_QUEUE, { command_id: row.id } satisfies CreationPayload, { maxAttempts: 3 });
    });
    return commandView(row);
  }

  async list(principal: Principal, query: CommandListQuery): Promise<Page<Command>> {
    const page = await commandRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(commandView), pagination: page.pagination };
  }

  async get(principal: Principal, id: string): Promise<Command> {
    return commandView(await this.require(this.db, principal, id));
  }

  /**
   * Only once no execution is pending or sent; the executions go with it, without events (§8.3). A
   * restricted caller deletes only a command whose every execution is on their nodes.
   */
  async delete(principal: Principal, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.require(trx, principal, id);
      const scope = nodeScopeOf(principal);
      if (scope !== null && (await commandRepo.executionsOutside(trx, id, scope)) > 0) {
        throw new ForbiddenError('This command also ran on nodes outside your scope');
      }
      const open = await commandRepo.openExecutionCount(trx, id);
      if (open > 0) throw new ConflictError(`cannot delete command with ${open} non-completed execution(s) - all executions must be completed first`);
      await commandRepo.delete(trx, id);
    });
  }

  // ── Background work ─────────────────────────────────────────────────────────────────────────

  /**
   * The `execution_creation` job. Idempotent: the unique (node_id, command_id) key makes a retry
   * insert only what an earlier attempt did not, and only newly inserted rows get an event and a push.
   */
  async createExecutions(job: Job<CreationPayload>): Promise<void> {
    const command = await commandRepo.find(this.db, job.payload.command_id);
    if (!command) throw new DropJob();
    const targeting = JSON.parse(command.targeting) as Targeting;
    const { nodes, clusterId } = await resolveTargeting(this.db, targeting, { scope: decodeScope(command.node_scope) });
    const clusterName = clusterId === null ? null : ((await clusterRepo.findById(this.db, clusterId))?.name ?? null);
    const targetAll = targeting.type === 'all' ? 1 : 0;

    for (let i = 0; i < nodes.length; i += CREATION_CHUNK) {
      const chunk = nodes.slice(i, i + CREATION_CHUNK);
      const now = nowIso();
      const rows: ExecutionRow[] = chunk.map((node) => ({
        id: uuidv7(),
        command_id: command.id,
        node_id: node.id,
        cluster_id: clusterId,
        target_all: targetAll,
        status: 'pending',
        output: null,
        exit_code: null,
        sent_at: null,
        completed_at: null,
        cancelled_at: null,
        inserted_at: now,
        updated_at: now,
      }));
      const created = await this.deps.outbox.run(async (trx, emit) => {
        const inserted = new Set(await executionRepo.insertMany(trx, rows));
        const records: ExecutionRecord[] = [];
        rows.forEach((row, index) => {
          if (!inserted.has(row.id)) return;
          const record: ExecutionRecord = {
            ...row,
            command_text: command.command_text,
            timeout: command.timeout,
            expired_at: command.expired_at,
            cluster_name: clusterName,
            node_cluster_name: chunk[index]!.clusterName,
          };
          records.push(record);
          emit('edge.command_execution.created', executionEventData(record));
        });
        return records;
      });
      // After commit, so an agent that acknowledges at once finds the row; not awaited, so the
      // next chunk is written meanwhile.
      void this.delivery.push(created);
    }
  }

  /** A node's channel just opened: offer it everything still waiting for it. */
  pushPending(nodeId: string): void {
    void this.delivery.pushPending(nodeId);
  }

  /** Expires the due executions of nodes in these clusters (the ones this instance owns). */
  expireOwned(clusterIds: string[]): Promise<number> {
    return this.executions.expireDue(clusterIds, false);
  }

  /** Expires the due executions whose node is gone; they belong to no cluster, so one instance does it. */
  expireOrphans(): Promise<number> {
    return this.executions.expireDue([], true);
  }

  /** Pruning is global: run on one instance, or each row would be announced once per instance. */
  prune(): Promise<number> {
    return this.executions.pruneBefore(new Date(Date.now() - this.deps.config.executionRetentionDays * DAY_MS).toISOString());
  }

  private async require(db: Kysely<Database>, principal: Principal, id: string): Promise<CommandRow> {
    const row = await commandRepo.findVisible(db, id, nodeScopeOf(principal));
    if (!row) throw new NotFoundError('Command');
    return row;
  }
}
