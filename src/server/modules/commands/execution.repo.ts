/**
 * SQL of `command_executions`. Every status change is one conditional UPDATE (`… WHERE status IN
 * (allowed)`), so two writers racing on one row (concurrent acknowledgements, a result against the
 * expiry sweep, two instances) can never both win or move a row backwards.
 */
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';
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
import type { CommandExecutionsTable } from '../../db/tables/commands.ts';

type Db = Kysely<Database>;
export type ExecutionRow = Selectable<CommandExecutionsTable>;
export type ExecutionStatus = ExecutionRow['status'];

export const OPEN_STATUSES: ExecutionStatus[] = ['pending', 'sent'];
const TERMINAL_STATUSES: ExecutionStatus[] = ['completed', 'cancelled', 'expired'];

/**
 * `status in ('pending', 'sent')` with literals, exactly as the partial index
 * `command_executions_open` is defined: neither engine matches a partial index against parameters.
 */
export const isOpen = (column: string) => sql<boolean>`${sql.ref(column)} in ('pending', 'sent')`;

/** An execution with what its views need from the command, its targeted cluster and its node. */
export interface ExecutionRecord extends Omit<ExecutionRow, 'output'> {
  /** Present only when read `withOutput` (it can be megabytes; events and pushes never carry it). */
  output?: string | null;
  command_text: string;
  timeout: number | null;
  /** The command's deadline. */
  expired_at: string | null;
  /** Name of the targeted cluster (`cluster_id`). */
  cluster_name: string | null;
  /** Name of the node's current cluster (event data, the `cluster_name` list filter). */
  node_cluster_name: string | null;
}

const executionFilters: Record<string, Filter> = {
  status: equals('e.status'),
  target_all: equals('e.target_all', (v: boolean) => (v ? 1 : 0)),
  exit_code: equals('e.exit_code'),
  exit_code__gte: atLeast('e.exit_code'),
  exit_code__lte: atMost('e.exit_code'),
  has_output: present('e.output'),
  command_id: equals('e.command_id'),
  node_id: equals('e.node_id'),
  output: textFilter('e.output'),
  cluster_name: textFilter('nc.name', { inList: false }),
  has_cluster: present('e.cluster_id'),
  ...dateRange('sent_at', 'e.sent_at'),
  ...dateRange('completed_at', 'e.completed_at'),
  ...dateRange('cancelled_at', 'e.cancelled_at'),
  ...timestampFilters('e'),
};

const sortable = {
  status: 'e.status',
  exit_code: 'e.exit_code',
  sent_at: 'e.sent_at',
  completed_at: 'e.completed_at',
  cancelled_at: 'e.cancelled_at',
  inserted_at: 'e.inserted_at',
  updated_at: 'e.updated_at',
};

const BASE_COLUMNS = [
  'e.id',
  'e.command_id',
  'e.node_id',
  'e.cluster_id',
  'e.target_all',
  'e.status',
  'e.exit_code',
  'e.sent_at',
  'e.completed_at',
  'e.cancelled_at',
  'e.inserted_at',
  'e.updated_at',
  'c.command_text',
  'c.timeout',
  'c.expired_at',
  'tc.name as cluster_name',
  'nc.name as node_cluster_name',
] as const;

function records(db: Db, withOutput = false) {
  const query = db
    .selectFrom('command_executions as e')
    .innerJoin('commands as c', 'c.id', 'e.command_id')
    .leftJoin('clusters as tc', 'tc.id', 'e.cluster_id')
    .leftJoin('nodes as n', 'n.id', 'e.node_id')
    .leftJoin('clusters as nc', 'nc.id', 'n.cluster_id')
    .select(BASE_COLUMNS);
  return withOutput ? query.select('e.output') : query;
}

/**
 * Rows per INSERT: 13 bind parameters each, just under SQLite's limit of 32,766 per statement, so
 * a fan-out chunk (CommandService) is one statement and one round trip.
 */
const INSERT_CHUNK = 2500;

export const executionRepo = {
  find(db: Db, id: string, options: { withOutput?: boolean } = {}): Promise<ExecutionRecord | undefined> {
    return records(db, options.withOutput).where('e.id', '=', id).executeTakeFirst() as Promise<ExecutionRecord | undefined>;
  },

  /** Many by id, in id order (events of a batch). */
  findMany(db: Db, ids: string[]): Promise<ExecutionRecord[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return records(db).where('e.id', 'in', ids).orderBy('e.id').execute() as Promise<ExecutionRecord[]>;
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<ExecutionRecord>> {
    return paginate(withinScope(records(db, true), 'e.node_id', scope), input, { filters: executionFilters, sortable, tieBreaker: 'e.id' }) as Promise<
      Page<ExecutionRecord>
    >;
  },

  /** One node's executions of one status (the polling agent's list); oldest first unless asked. */
  listForNode(db: Db, nodeId: string, input: ListInput & { status: ExecutionStatus }): Promise<Page<ExecutionRecord>> {
    const query = records(db).where('e.node_id', '=', nodeId);
    return paginate(query, input, {
      filters: { status: equals('e.status') },
      sortable,
      tieBreaker: 'e.id',
      defaultOrder: { column: 'inserted_at', direction: 'asc' },
    }) as Promise<Page<ExecutionRecord>>;
  },

  /** A node's pending executions whose deadline has not passed, oldest first (push on connect). */
  pendingForNode(db: Db, nodeId: string, now: string): Promise<ExecutionRecord[]> {
    return records(db)
      .where('e.node_id', '=', nodeId)
      .where('e.status', '=', 'pending')
      .where((eb) => eb.or([eb('c.expired_at', 'is', null), eb('c.expired_at', '>', now)]))
      .orderBy('e.inserted_at')
      .orderBy('e.id')
      .execute() as Promise<ExecutionRecord[]>;
  },

  /** Inserts what is not there yet; returns the ids of the rows actually inserted. */
  async insertMany(db: Db, rows: ExecutionRow[]): Promise<string[]> {
    const inserted: string[] = [];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const result = await db
        .insertInto('command_executions')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .onConflict((oc) => oc.columns(['command_id', 'node_id']).doNothing())
        .returning('id')
        .execute();
      for (const r of result) inserted.push(r.id);
    }
    return inserted;
  },

  /** pending → sent; false when the row was not pending. */
  async markSent(db: Db, id: string, now: string): Promise<boolean> {
    const result = await db
      .updateTable('command_executions')
      .set({ status: 'sent', sent_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /** pending → cancelled; false when the row was not pending. */
  async cancelPending(db: Db, id: string, now: string): Promise<boolean> {
    const result = await db
      .updateTable('command_executions')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /** sent → cancelled for an execution whose node is gone; false otherwise. */
  async cancelOrphan(db: Db, id: string, now: string): Promise<boolean> {
    const result = await db
      .updateTable('command_executions')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'sent')
      .where('node_id', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /**
   * Records an agent's result where one is accepted (§8.3): `sent`, or `cancelled`/`expired` with no
   * exit code yet (the admin cancelled or the sweep expired it while the agent was already running it).
   */
  async applyResult(
    db: Db,
    id: string,
    result: { status: ExecutionStatus; output?: string; exit_code?: number; completed_at: string; now: string },
  ): Promise<boolean> {
    const set: Record<string, unknown> = { status: result.status, completed_at: result.completed_at, updated_at: result.now };
    if (result.output !== undefined) set.output = result.output;
    if (result.exit_code !== undefined) set.exit_code = result.exit_code;
    // An admin's earlier cancel time stays the cancel time.
    if (result.status === 'cancelled') set.cancelled_at = sql`coalesce(cancelled_at, ${result.now})`;
    const outcome = await db
      .updateTable('command_executions')
      .set(set)
      .where('id', '=', id)
      .where((eb) => eb.or([eb('status', '=', 'sent'), eb.and([eb('status', 'in', ['cancelled', 'expired']), eb('exit_code', 'is', null)])]))
      .executeTakeFirst();
    return Number(outcome.numUpdatedRows) > 0;
  },

  /** pending/sent → expired for those of `ids` still open; returns the ids that changed. */
  async expire(db: Db, ids: string[], now: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await db
      .updateTable('command_executions')
      .set({ status: 'expired', updated_at: now })
      .where('id', 'in', ids)
      .where('status', 'in', OPEN_STATUSES)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  },

  /**
   * Open executions whose command's deadline has passed, of nodes in `clusterIds`, plus (for the
   * one instance that sweeps them) those whose node or its cluster is gone.
   */
  expiredCandidates(
    db: Db,
    now: string,
    clusterIds: string[],
    orphans: boolean,
    limit: number,
  ): Promise<Array<{ id: string; node_id: string | null; status: ExecutionStatus }>> {
    return (
      db
        .selectFrom('command_executions as e')
        .innerJoin('commands as c', 'c.id', 'e.command_id')
        .leftJoin('nodes as n', 'n.id', 'e.node_id')
        .select(['e.id', 'e.node_id', 'e.status'])
        .where('c.expired_at', 'is not', null)
        .where('c.expired_at', '<=', now)
        .where(isOpen('e.status'))
        .where((eb) => {
          const owned = clusterIds.length > 0 ? [eb('n.cluster_id', 'in', clusterIds)] : [];
          const orphaned = orphans ? [eb('n.cluster_id', 'is', null)] : [];
          const any = [...owned, ...orphaned];
          return any.length > 0 ? eb.or(any) : sql<boolean>`1 = 0`;
        })
        // No ORDER BY: it would make SQLite walk every execution in id order instead of starting
        // from the commands past their deadline.
        .limit(limit)
        .execute()
    );
  },

  /**
   * Finalised executions inserted before `cutoff` (§8.4): completed, or cancelled/expired with an
   * exit code. Cancelled/expired without one may still receive the agent's real result, so they stay.
   */
  async finalisedBefore(db: Db, cutoff: string, limit: number): Promise<string[]> {
    const rows = await db
      .selectFrom('command_executions')
      .select('id')
      .where('inserted_at', '<', cutoff)
      .where((eb) => eb.or([eb('status', '=', 'completed'), eb.and([eb('status', 'in', ['cancelled', 'expired']), eb('exit_code', 'is not', null)])]))
      .orderBy('inserted_at')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  },

  async deleteMany(db: Db, ids: string[]): Promise<void> {
    if (ids.length > 0) await db.deleteFrom('command_executions').where('id', 'in', ids).execute();
  },

  /** Deletes a terminal execution; false when it is (still or again) open. */
  async deleteTerminal(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('command_executions').where('id', '=', id).where('status', 'in', TERMINAL_STATUSES).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
