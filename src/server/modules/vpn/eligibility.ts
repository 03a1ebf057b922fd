/**
 * Which subscriptions a node serves (specs/core-node.md §4.2): the one rule shared by the config
 * renderer, the admin side, the expiry sweep and usage ingest's limit enforcement.
 */

export interface EligibilityFacts {
  /** active | disabled | limited | expired */
  status: string;
  traffic_limit_bytes: number;
  used_up_bytes: number;
  used_down_bytes: number;
  expires_at: string | null;
  /** The owning user's status; a disabled user's subscriptions are served nowhere. Absent = active. */
  user_status?: string;
}

const iso = (now: Date | string): string => (typeof now === 'string' ? now : now.toISOString());

/** Limits count upload and download together; 0 = unlimited. */
export const limitReached = (s: Pick<EligibilityFacts, 'traffic_limit_bytes' | 'used_up_bytes' | 'used_down_bytes'>): boolean =>
  s.traffic_limit_bytes > 0 && Number(s.used_up_bytes) + Number(s.used_down_bytes) >= s.traffic_limit_bytes;

const hasExpired = (s: Pick<EligibilityFacts, 'expires_at'>, now: Date | string): boolean => s.expires_at !== null && s.expires_at <= iso(now);

/**
 * True when the subscription's clients belong in node configs right now: status active, owner
 * active, not past expiry, used below the limit. Ineligible subscriptions are omitted from inbounds
 * and from `clientMap`, which is how limits, expiry and disabling take effect on nodes.
 */
export function isEligible(s: EligibilityFacts, now: Date | string = new Date()): boolean {
  return s.status === 'active' && (s.user_status ?? 'active') === 'active' && !hasExpired(s, now) && !limitReached(s);
}

/**
 * The status a subscription that is not disabled should have: expiry wins over the limit, so an
 * expired subscription whose traffic is reset stays expired until its date moves.
 */
export function liveStatus(s: Omit<EligibilityFacts, 'status' | 'user_status'>, now: Date | string = new Date()): 'active' | 'limited' | 'expired' {
  if (hasExpired(s, now)) return 'expired';
  if (limitReached(s)) return 'limited';
  return 'active';
}
