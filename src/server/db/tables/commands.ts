/** Row types of the commands tables (see migration 0005_commands); part of the Database interface. */

/** A command as the operator created it; immutable apart from deletion. */
export interface CommandsTable {
  id: string;
  command_text: string;
  /** Milliseconds the agent lets it run; null = no limit. */
  timeout: number | null;
  /** Deadline past which pending/sent executions expire; null = never. */
  expired_at: string | null;
  /** The request's targeting object, as JSON text. */
  targeting: string;
  /** The creator's node scope, JSON array of inventory ids; null = every node (0016). */
  node_scope: string | null;
  inserted_at: string;
  updated_at: string;
}

/**
 * One run of a command on one node. Command text, timeout and deadline are read from the parent
 * command (commands are immutable), so a 10,000-node fan-out does not copy the script 10,000 times.
 */
export interface CommandExecutionsTable {
  id: string;
  command_id: string;
  /** Null once the node is deleted (the execution is kept for the record). */
  node_id: string | null;
  /** The cluster targeted when `clusters` targeting resolved to exactly one cluster. */
  cluster_id: string | null;
  target_all: number;
  status: 'pending' | 'sent' | 'completed' | 'cancelled' | 'expired';
  output: string | null;
  exit_code: number | null;
  sent_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  inserted_at: string;
  updated_at: string;
}

export interface CommandTables {
  commands: CommandsTable;
  command_executions: CommandExecutionsTable;
}
