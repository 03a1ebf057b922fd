/** Row types of the manager face's tunnels (see migration 0018_tunnels); part of the Database interface. */
import type { Selectable } from 'kysely';

export interface TunnelsTable {
  /** UUID v4: edges parse it as a UUID and put it in their bind tokens. */
  id: string;
  name: string;
  /** tcp | udp */
  protocol: string;
  /** relay | direct */
  mode: string;
  ingress_node_id: string;
  ingress_listen_port: number;
  egress_node_id: string;
  egress_forward_addr: string;
  /** Direct mode: where the entry edge reaches the exit edge. */
  egress_peer_addr: string | null;
  relay_addr: string | null;
  relay_node_id: string | null;
  /** pending | active | error | disabled */
  status: string;
  /** JSON array of flow ids, or null. */
  associated_flow_ids: string | null;
  /** Sealed 64-hex-char secrets. */
  tunnel_key_enc: string;
  tunnel_bind_secret_enc: string;
  tunnel_psk_enc: string | null;
  /** pending | pushed | failed (relay: null in direct mode). */
  ingress_push_status: string;
  egress_push_status: string;
  relay_push_status: string | null;
  ingress_push_error: string | null;
  egress_push_error: string | null;
  relay_push_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface TunnelTables {
  tunnels: TunnelsTable;
}

export type TunnelRow = Selectable<TunnelsTable>;
