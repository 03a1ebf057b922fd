/**
 * The manager node hub's Prometheus series, in the server registry: sessions held here, frames by
 * type, oversize frames dropped, auth refusals by reason. Frame types are the node's own words, so
 * only the ones the protocol names (manager spec §1.4) become labels; anything else counts as
 * `other`, keeping a hostile node from minting series.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuthFailure } from '../../modules/manager/node-session.service.ts';

/** Refusals the hub decides itself, before or around the service's check. */
export type HandshakeFailure = AuthFailure | 'timeout' | 'bad_first_frame' | 'internal';

export interface ManagerHubMetrics {
  received(type: string): void;
  oversize(): void;
  authFailed(reason: HandshakeFailure): void;
}

const FRAME_TYPES = new Set(['health', 'stats', 'event', 'thumbnail', 'config_response', 'command_ack', 'pong']);

export function registerManagerHubMetrics(registry: Registry, sessions: () => number): ManagerHubMetrics {
  new Gauge({
    name: 'nodeplane_manager_sessions_connected',
    help: 'Manager nodes (bilbycast edges and relays) holding a live session to this instance',
    registers: [registry],
    collect() {
      this.set(sessions());
    },
  });
  const frames = new Counter<'type'>({
    name: 'nodeplane_manager_frames_received_total',
    help: 'Frames received from manager nodes after auth, by type (unknown types as other)',
    labelNames: ['type'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'nodeplane_manager_frames_dropped_oversize_total',
    help: 'Manager node frames over 5 MB dropped (the socket is kept)',
    registers: [registry],
  });
  const refused = new Counter<'reason'>({
    name: 'nodeplane_manager_auth_failures_total',
    help: 'Manager node handshakes refused, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  return {
    received: (type) => frames.inc({ type: FRAME_TYPES.has(type) ? type : 'other' }),
    oversize: () => dropped.inc(),
    authFailed: (reason) => refused.inc({ reason }),
  };
}
