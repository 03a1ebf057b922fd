/**
 * Runtime constants of the Core node API payloads the agent sends. The payload types themselves come
 * from src/contract/core-node/ as type-only imports; these values are typed by the contract's, so the
 * compiler fails the build when the two drift, without loading the server's schema objects.
 */
import type { VpnProtocol } from '../../contract/core-node/config.ts';
import type {
  MAX_INGEST_BATCH as CONTRACT_MAX_INGEST_BATCH,
  MAX_OUTBOUND_ITEMS as CONTRACT_MAX_OUTBOUND_ITEMS,
  VPN_PROTOCOLS as CONTRACT_VPN_PROTOCOLS,
} from '../../contract/core-node/ingest.ts';

/** The server's per-request caps (spec §6: keep batches bounded). */
export const MAX_INGEST_BATCH: typeof CONTRACT_MAX_INGEST_BATCH = 5000;
export const MAX_OUTBOUND_ITEMS: typeof CONTRACT_MAX_OUTBOUND_ITEMS = 1000;

const PROTOCOLS: typeof CONTRACT_VPN_PROTOCOLS = ['vless', 'vmess', 'trojan', 'shadowsocks', 'mtproto'];
export const VPN_PROTOCOLS: ReadonlySet<string> = new Set<VpnProtocol>(PROTOCOLS);
