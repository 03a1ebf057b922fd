import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { SettingRow } from '../../db/tables/audit-settings.ts';

type Db = Kysely<Database>;

export const settingsRepo = {
  all(db: Db): Promise<SettingRow[]> {
    return db.selectFrom('settings').selectAll().execute();
  },

  async upsert(db: Db, rows: SettingRow[]): Promise<void> {
    if (rows.length === 0) return;
    await db
      .insertInto('settings')
      .values(rows)
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          updated_at: eb.ref('excluded.updated_at'),
          updated_by: eb.ref('excluded.updated_by'),
        })),
      )
      .execute();
  },
};
