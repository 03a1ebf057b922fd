/**
 * Row types of every table, as Kysely sees them. Times are ISO-8601 UTC text, booleans are 0/1
 * integers and JSON is text, identically on SQLite and Postgres.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { CommandTables } from '../modules/commands/tables.ts';
import type { SshTables } from '../modules/ssh/tables.ts';
import type { SelfUpdateTables } from '../modules/self-updates/tables.ts';
import type { WebhookTables } from '../modules/webhooks/tables.ts';
import type { VpnTables } from '../modules/vpn/tables.ts';

export interface InstancesTable {
  id: string;
  name: string;
  max_wireguard_peers: number;
  version: string;
  started_at: string;
  heartbeat_at: string;
}

export interface ClustersTable {
  id: string;
  name: string;
  ipv4_range: string;
  node_limit: number | null;
  inserted_at: string;
  updated_at: string;
}

export interface EnrollmentKeysTable {
  id: string;
  cluster_id: string;
  name: string | null;
  key: string;
  uses_remaining: number | null;
  expired_at: string | null;
  last_used_at: string | null;
  inserted_at: string;
  updated_at: string;
}

/** One inventory: every node of every kind. Facts of one face live in side tables keyed by id. */
export interface NodesTable {
  id: string;
  kind: string;
  name: string;
  cluster_id: string | null;
  status: string;
  last_seen_at: string | null;
  version: string | null;
  labels: string;
  inserted_at: string;
  updated_at: string;
}

export interface EdgeNodesTable {
  node_id: string;
  id_type: string;
  http_port: number;
  ssh_port: number;
  host_metrics_port: number;
  wireguard_metrics_port: number;
  http_proxy_port: number;
  socks5_proxy_port: number;
  self_update_enabled: number;
  api_token_hash: string;
  api_token_enc: string;
  proxy_password_enc: string;
}

export interface AddressAllocationsTable {
  node_id: string;
  cluster_id: string;
  address: number;
}

export interface AliasesTable {
  id: string;
  name: string;
  node_id: string;
  cluster_id: string;
  inserted_at: string;
  updated_at: string;
}

/** The outbox: events committed with the change that caused them, relayed in `seq` order. */
export interface EventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  time: string;
  envelope: string;
}

/** How far each durable consumer of the outbox has got; advanced in the consumer's own transaction. */
export interface EventConsumersTable {
  name: string;
  last_seq: number;
}

/** The latest snapshot a node pushed per metrics type (host | agent | wireguard). */
export interface NodeMetricsTable {
  node_id: string;
  metrics_type: string;
  id: string;
  metrics_text: string;
  updated_at: string;
}

export interface JoinTicketsTable {
  ticket_hash: string;
  cluster_id: string;
  expires_at: string;
}

export interface JobsTable {
  id: string;
  queue: string;
  payload: string;
  /** `pending` until done (then deleted) or out of attempts (`dead`, kept for inspection). */
  state: 'pending' | 'dead';
  run_at: string;
  lease_until: string | null;
  /** Instance id of the lease holder (see JobRunner.start). */
  lease_owner: string | null;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  /** At most one live job per key (e.g. one delivery per webhook × event). */
  dedupe_key: string | null;
  created_at: string;
}

/** Which instance holds a node's live channel (src/server/channels/directory.ts). */
export interface NodeChannelsTable {
  node_id: string;
  instance_id: string;
  connected_at: string;
}

export interface Database extends CommandTables, SshTables, SelfUpdateTables, WebhookTables, VpnTables {
  instances: InstancesTable;
  clusters: ClustersTable;
  enrollment_keys: EnrollmentKeysTable;
  nodes: NodesTable;
  edge_nodes: EdgeNodesTable;
  address_allocations: AddressAllocationsTable;
  aliases: AliasesTable;
  events: EventsTable;
  event_consumers: EventConsumersTable;
  join_tickets: JoinTicketsTable;
  node_metrics: NodeMetricsTable;
  jobs: JobsTable;
  node_channels: NodeChannelsTable;
}

export type ClusterRow = Selectable<ClustersTable>;
export type EnrollmentKeyRow = Selectable<EnrollmentKeysTable>;
export type NodeRow = Selectable<NodesTable>;
export type NewNode = Insertable<NodesTable>;
export type NodeUpdate = Updateable<NodesTable>;
export type EdgeNodeRow = Selectable<EdgeNodesTable>;
export type AliasRow = Selectable<AliasesTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type EventRow = Selectable<EventsTable>;
