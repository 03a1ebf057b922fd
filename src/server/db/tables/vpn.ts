/** Row types of the VPN service tables (migration 0009); part of the Database interface. */
import type { Generated } from 'kysely';

export interface VpnUsersTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  telegram_id: string | null;
  /** active | disabled */
  status: string;
  inserted_at: string;
  updated_at: string;
}

export interface VpnSubscriptionsTable {
  id: Generated<number>;
  user_id: number;
  link_uuid: string;
  /** active | disabled | limited | expired */
  status: string;
  /** 0 = unlimited; limits count up + down together. */
  traffic_limit_bytes: number;
  used_up_bytes: number;
  used_down_bytes: number;
  lifetime_used_bytes: number;
  /** no_reset | day | week | month */
  reset_strategy: string;
  last_reset_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  online: number;
  online_at: string | null;
  last_node_id: string | null;
  ss_password_enc: string;
  inserted_at: string;
  updated_at: string;
}

export interface CoreNodesTable {
  node_id: string;
  core_id: number;
  code: string;
  registration_secret_hash: string | null;
  auth_key_hash: string | null;
  host: string;
  ip: string | null;
  region: string | null;
  /** pending | synced | failed */
  sync_status: string;
  revision: number;
  applied_revision: number | null;
  config_hash: string | null;
  /** JSON {message, code, details, at} */
  last_error: string | null;
  /** JSON list of routing rules; defaults to `[]` */
  routing_rules: Generated<string>;
  /** JSON list of `ip[/prefix][:port]` opened past the private-destination block (migration 0011) */
  allowed_destinations: Generated<string>;
}

export interface NodeProtocolsTable {
  id: Generated<number>;
  node_id: string;
  /** vless | vmess | trojan | shadowsocks | mtproto */
  protocol: string;
  port: number;
  listen: string | null;
  /** tcp | ws | grpc | xhttp | httpupgrade; null for mtproto */
  transport: string | null;
  transport_settings: string;
  /** none | tls | reality */
  security: string;
  tls_settings: string;
  reality_settings: string;
  flow: string | null;
  ss_method: string | null;
  ss_server_key_enc: string | null;
  mtproto_settings: string;
  remark: string | null;
  enabled: number;
  inserted_at: string;
  updated_at: string;
}

export interface SubscriptionProtocolsTable {
  subscription_id: number;
  node_protocol_id: number;
}

/** A grant taken away, kept while the node may still report traffic of its previous revision (migration 0011). */
export interface RevokedGrantsTable {
  subscription_id: number;
  node_protocol_id: number;
  node_id: string;
  /** The node's newest revision whose state still held the grant. */
  last_revision: number;
}

export interface NodeOutboundsTable {
  id: Generated<number>;
  node_id: string;
  tag: string;
  protocol: string;
  settings: string;
  stream_settings: string;
  traffic_bytes_up: number;
  traffic_bytes_down: number;
  inserted_at: string;
  updated_at: string;
}

export interface UsageRecordsTable {
  id: Generated<number>;
  node_id: string;
  node_protocol_id: number;
  user_id: number;
  /** 0 = not attributed to a subscription */
  subscription_id: number;
  /** Minute bucket: `YYYY-MM-DDTHH:MM:00.000Z` */
  recorded_at: string;
  bytes_up: number;
  bytes_down: number;
}

export interface SessionEventsTable {
  id: Generated<number>;
  node_id: string;
  user_id: number;
  protocol: string;
  /** online | offline */
  event_type: string;
  occurred_at: string;
  ip_address: string | null;
  inserted_at: string;
}

export interface IngestBatchesTable {
  node_id: string;
  idempotency_key: string;
  route: string;
  inserted_at: string;
}

export interface VpnTables {
  vpn_users: VpnUsersTable;
  vpn_subscriptions: VpnSubscriptionsTable;
  core_nodes: CoreNodesTable;
  node_protocols: NodeProtocolsTable;
  subscription_protocols: SubscriptionProtocolsTable;
  revoked_grants: RevokedGrantsTable;
  node_outbounds: NodeOutboundsTable;
  usage_records: UsageRecordsTable;
  session_events: SessionEventsTable;
  ingest_batches: IngestBatchesTable;
}
