/** Row types of the manager face's nodes and events (see migration 0017_manager_nodes). */
import type { Generated, Insertable, Selectable } from 'kysely';

/** What the manager knows of a node beyond its inventory row. */
export interface ManagerNodesTable {
  node_id: string;
  /** `edge` | `relay` (a device driver's name). */
  device_type: string;
  description: string | null;
  expires_at: string | null;
  /** SHA-256 of the pending registration token; null once consumed. */
  registration_token_hash: string | null;
  /** The node secret sealed with the data key (SecretBox); null until the node registers. */
  node_secret_enc: string | null;
  /** JSON text of the last `health` payload. */
  last_health: string | null;
  /** JSON text of a recent `stats` payload, sampled from memory at most once per MANAGER_STATS_SAMPLE_MS. */
  last_stats: string | null;
  last_stats_at: string | null;
  software_version: string | null;
  protocol_version: number | null;
  /** JSON text, or null. */
  metadata: string | null;
  /** The instance holding the node's live session, so a restart of that instance can mark it offline. */
  held_by: string | null;
}

/** One node event (`event` frames) or the manager's own `connection`/`compatibility` event. */
export interface ManagerEventsTable {
  id: Generated<number>;
  node_id: string;
  /** info | warning | critical */
  severity: string;
  category: string;
  message: string;
  /** JSON text, or null. */
  details: string | null;
  flow_id: string | null;
  created_at: string;
  /** 0/1. */
  acknowledged: Generated<number>;
  /** The acknowledging user's id. */
  acknowledged_by: string | null;
}

export type ManagerNodeRow = Selectable<ManagerNodesTable>;
export type ManagerEventRow = Selectable<ManagerEventsTable>;
export type NewManagerEvent = Insertable<ManagerEventsTable>;

export interface ManagerTables {
  manager_nodes: ManagerNodesTable;
  manager_events: ManagerEventsTable;
}
