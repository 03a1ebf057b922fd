/** Row types of this module's tables (see migration 0007_self_updates); part of the Database interface. */
export interface SelfUpdateTables {}
