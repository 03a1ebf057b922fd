/** SQL of `users`. */
import type { Kysely, Updateable } from 'kysely';
import { equals, type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { UserRow, UsersTable } from '../../db/tables/operators.ts';

type Db = Kysely<Database>;

const filters: Record<string, Filter> = {
  username: textFilter('users.username'),
  role: equals('users.role'),
  ...timestampFilters('users'),
};

export const userRepo = {
  async insert(db: Db, row: UserRow): Promise<void> {
    await db.insertInto('users').values(row).execute();
  },

  find(db: Db, id: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  },

  findByUsername(db: Db, username: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  },

  async any(db: Db): Promise<boolean> {
    return (await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) !== undefined;
  },

  /** Every operator by username (the manager face lists them unpaged). */
  all(db: Db): Promise<UserRow[]> {
    return db.selectFrom('users').selectAll().orderBy('username').orderBy('id').execute();
  },

  list(db: Db, input: ListInput): Promise<Page<UserRow>> {
    return paginate(db.selectFrom('users').selectAll(), input, {
      filters,
      sortable: { username: 'users.username', role: 'users.role', inserted_at: 'users.inserted_at', updated_at: 'users.updated_at' },
      tieBreaker: 'users.id',
      defaultOrder: { column: 'users.username', direction: 'asc' },
    });
  },

  async update(db: Db, id: string, changes: Updateable<UsersTable>): Promise<boolean> {
    const result = await db.updateTable('users').set(changes).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /** Counts one failed login in one statement (concurrent failures all count); returns the new count. */
  async countFailure(db: Db, id: string): Promise<number> {
    const row = await db
      .updateTable('users')
      .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1) }))
      .where('id', '=', id)
      .returning('failed_logins')
      .executeTakeFirst();
    return row?.failed_logins ?? 0;
  },

  /** Sessions and API tokens go with the user (foreign key cascade). */
  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
