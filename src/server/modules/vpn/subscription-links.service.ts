/**
 * The public subscription document behind `GET /sub/{linkUuid}` (specs/core-node.md §5.2): share
 * links for every enabled node protocol the subscription is granted, plus the usage figures clients
 * show. Links are served whatever the subscription's status (limited, expired, disabled): clients keep
 * displaying usage and expiry, and nodes refuse the credentials anyway because ineligible
 * subscriptions are left out of every node config. The link UUID is both the URL token and the proxy
 * credential, so a revoke (a new link UUID) moves the document to a new URL: the old one is gone.
 * Inbounds the node reported it cannot serve are left out (unservedTags).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { type LinkProtocol, shareLinks } from './share-links.ts';
import { subscriptionRepo } from './subscription.repo.ts';

export interface SubscriptionDocument {
  links: string[];
  username: string;
  /** Bytes client → node and node → client, and the limit (0 = unlimited). */
  upload: number;
  download: number;
  total: number;
  /** Unix seconds, 0 = never. */
  expire: number;
}

const parseJson = (text: string | null): Record<string, unknown> => {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
};

/**
 * Inbound tags the node reported it does not serve (`/node/error` details `inbounds: [{tag}]`, sent
 * by our agent when its core dropped an inbound or nothing listens on it): a link to one would not
 * connect, so it is left out until the node applies a revision that serves it (which clears the error).
 */
function unservedTags(lastError: string | null): Set<string> {
  const inbounds = (parseJson(lastError).details as { inbounds?: unknown } | null | undefined)?.inbounds;
  const tags = new Set<string>();
  if (Array.isArray(inbounds))
    for (const i of inbounds) if (i && typeof i === 'object' && typeof (i as { tag?: unknown }).tag === 'string') tags.add((i as { tag: string }).tag);
  return tags;
}

export class SubscriptionLinkService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox,
  ) {}

  /** null for an unknown link UUID (a revoked one included: it names no subscription any more). */
  async document(linkUuid: string): Promise<SubscriptionDocument | null> {
    if (!UUID_PATTERN.test(linkUuid)) return null;
    const sub = await subscriptionRepo.findByLinkUuid(this.db, linkUuid.toLowerCase());
    if (!sub) return null;

    const protocols = await subscriptionRepo.linkProtocols(this.db, sub.id);

    let ssPassword: string | null = null;
    const links: string[] = [];
    for (const row of protocols) {
      if (row.sync_status === 'failed' && unservedTags(row.last_error).has(`np-${row.id}`)) continue;
      if (row.protocol === 'shadowsocks') ssPassword ??= this.secrets.open(sub.ss_password_enc);
      const protocol: LinkProtocol = {
        protocol: row.protocol,
        host: row.host,
        port: row.port,
        remark: row.remark ?? `${row.node_name} ${row.protocol}`,
        transport: row.transport,
        transportSettings: parseJson(row.transport_settings),
        security: row.security,
        tlsSettings: parseJson(row.tls_settings),
        realitySettings: parseJson(row.reality_settings),
        flow: row.flow,
        ssMethod: row.ss_method,
        ssServerKey: row.ss_server_key_enc ? this.secrets.open(row.ss_server_key_enc) : null,
        mtprotoSettings: parseJson(row.mtproto_settings),
      };
      links.push(...shareLinks(protocol, { linkUuid: sub.link_uuid, ssPassword: ssPassword ?? '' }));
    }

    return {
      links,
      username: sub.username,
      upload: Number(sub.used_up_bytes),
      download: Number(sub.used_down_bytes),
      total: Number(sub.traffic_limit_bytes),
      expire: sub.expires_at ? Math.floor(Date.parse(sub.expires_at) / 1000) : 0,
    };
  }
}
