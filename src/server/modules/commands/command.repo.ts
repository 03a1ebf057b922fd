/** SQL of the `commands` table. */
import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import { encodeScope, type NodeScope, withinScope } from '../../db/scope.ts';
import type { Database } from '../../db/schema.ts';
import { atLeast, atMost, dateRange, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';
import { isOpen } from './execution.repo.ts';
import type { CommandsTable } from '../../db/tables/commands.ts';

type Db = Kysely<Database>;
export type CommandRow = Selectable<CommandsTable>;

const commandFilters: Record<string, Filter> = {
  command_text: textFilter('commands.command_text'),
  has_timeout: present('commands.timeout'),
  has_expired_at: present('commands.expired_at'),
  timeout__gte: atLeast('commands.timeout'),
  timeout__lte: atMost('commands.timeout'),
  ...dateRange('expired_at', 'commands.expired_at'),
  ...timestampFilters('commands'),
};

/**
 * The commands a caller with this scope sees: those with an execution on one of their nodes, and
 * those created under exactly their scope (their own, also before or without any execution).
 */
function visibleCommands(db: Db, scope: NodeScope) {
  const commands = db.selectFrom('commands').selectAll('commands');
  if (scope === null) return commands;
  return commands.where((eb) =>
    eb.or([
      eb.exists(
        withinScope(
          eb.selectFrom('command_executions').select('command_executions.id').whereRef('command_executions.command_id', '=', 'commands.id'),
          'command_executions.node_id',
          scope,
        ),
      ),
      eb('commands.node_scope', '=', encodeScope(scope)),
    ]),
  );
}

export const commandRepo = {
  async insert(db: Db, row: CommandRow): Promise<void> {
    await db.insertInto('commands').values(row).execute();
  },

  find(db: Db, id: string): Promise<CommandRow | undefined> {
    return db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst();
  },

  findVisible(db: Db, id: string, scope: NodeScope): Promise<CommandRow | undefined> {
    return visibleCommands(db, scope).where('commands.id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput, scope: NodeScope): Promise<Page<CommandRow>> {
    return paginate(visibleCommands(db, scope), input, {
      filters: commandFilters,
      sortable: {
        timeout: 'commands.timeout',
        expired_at: 'commands.expired_at',
        inserted_at: 'commands.inserted_at',
        updated_at: 'commands.updated_at',
      },
      tieBreaker: 'commands.id',
    });
  },

  /** Executions still pending or sent, which block deleting the command. */
  async openExecutionCount(db: Db, commandId: string): Promise<number> {
    const row = await db
      .selectFrom('command_executions')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('command_id', '=', commandId)
      .where(isOpen('command_executions.status'))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  },

  /** Executions of the command on nodes outside the scope, or on nodes that are gone. */
  async executionsOutside(db: Db, commandId: string, scope: readonly string[]): Promise<number> {
    const count = async (query: SelectQueryBuilder<Database, 'command_executions', object>) =>
      Number((await query.select((eb) => eb.fn.countAll().as('count')).executeTakeFirst())?.count ?? 0);
    const all = db.selectFrom('command_executions').where('command_id', '=', commandId);
    return (await count(all)) - (await count(withinScope(all, 'command_executions.node_id', scope)));
  },

  /** Executions go with it (ON DELETE CASCADE). */
  async delete(db: Db, id: string): Promise<void> {
    await db.deleteFrom('commands').where('id', '=', id).execute();
  },
};
