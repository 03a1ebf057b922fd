/**
 * The agent's view of the Core node API payloads (seed "Core Private Node Routes"; values as in
 * specs/core-node.md §7.1: lowercase protocols, `online`/`offline`). The server's schemas live in
 * src/contract/core-node/; these are kept separate so the agent builds against the wire format,
 * not against the server's moving internals.
 */

/** The server's per-request caps (spec §6: keep batches bounded). */
export const MAX_INGEST_BATCH = 5000;
export const MAX_OUTBOUND_ITEMS = 1000;

export type VpnProtocol = 'vless' | 'vmess' | 'trojan' | 'shadowsocks' | 'mtproto';
export const VPN_PROTOCOLS: ReadonlySet<string> = new Set<VpnProtocol>(['vless', 'vmess', 'trojan', 'shadowsocks', 'mtproto']);

export interface UsageEntry {
  userId: number;
  subscriptionId?: number | null;
  nodeProtocolId: number;
  bytesUp: number;
  bytesDown: number;
  /** An instant within the minute (the agent sends the minute's start). */
  recordedAt: string;
}

export interface OutboundUsageItem {
  tag: string;
  bytesUp: number;
  bytesDown: number;
}

export interface SessionEventEntry {
  userId: number;
  protocol: VpnProtocol;
  eventType: 'online' | 'offline';
  occurredAt: string;
  ipAddress?: string;
}
