/** SQL of the `commands` table. */
import type { Kysely, Selectable } from 'kysely';
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

export const commandRepo = {
  async insert(db: Db, row: CommandRow): Promise<void> {
    await db.insertInto('commands').values(row).execute();
  },

  find(db: Db, id: string): Promise<CommandRow | undefined> {
    return db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput): Promise<Page<CommandRow>> {
    return paginate(db.selectFrom('commands').selectAll('commands'), input, {
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

  /** Executions go with it (ON DELETE CASCADE). */
  async delete(db: Db, id: string): Promise<void> {
    await db.deleteFrom('commands').where('id', '=', id).execute();
  },
};
