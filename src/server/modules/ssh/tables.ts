/** Row types of this module's tables (see migration 0006_ssh); part of the Database interface. */
export interface SshTables {}
