/** Row types of the self-updates tables (see migration 0007_self_updates); part of the Database interface. */

export interface SelfUpdateRequestsTable {
  id: string;
  /** The request's targeting object, as JSON text. */
  targeting: string;
  /** The creator's node scope, JSON array of inventory ids; null = every node (0016). */
  node_scope: string | null;
  status: 'pending' | 'processing' | 'completed';
  /** JSON `{total, triggered, failed}` once completed, else null. */
  summary: string | null;
  inserted_at: string;
  updated_at: string;
}

export interface SelfUpdateTables {
  self_update_requests: SelfUpdateRequestsTable;
}
