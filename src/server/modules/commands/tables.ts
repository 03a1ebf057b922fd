/** Row types of this module's tables (see migration 0005_commands); part of the Database interface. */
export interface CommandTables {}
