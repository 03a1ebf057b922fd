/** The events a subscription's status change announces (no credentials: ids and counters only). */
import type { Selectable } from 'kysely';
import type { Emit } from '../../events/outbox.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import type { VpnSubscriptionsTable } from '../../db/tables/vpn.ts';

/** Emits `vpn.subscription.limited` / `.expired` when a change moves a subscription into that status. */
export function emitStatusEvent(emit: Emit, before: string, after: Selectable<VpnSubscriptionsTable>, at: string): void {
  if (after.status === before) return;
  if (after.status === 'limited') {
    emit('vpn.subscription.limited', {
      subscription_id: Number(after.id),
      user_id: Number(after.user_id),
      used_bytes: Number(after.used_up_bytes) + Number(after.used_down_bytes),
      traffic_limit_bytes: Number(after.traffic_limit_bytes),
      limited_at: toSecondPrecision(at),
    });
  } else if (after.status === 'expired' && after.expires_at) {
    emit('vpn.subscription.expired', {
      subscription_id: Number(after.id),
      user_id: Number(after.user_id),
      expires_at: toSecondPrecision(after.expires_at),
      expired_at: toSecondPrecision(at),
    });
  }
}
