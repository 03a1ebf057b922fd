/**
 * The VPN domain: the admin side (users, subscriptions with grants, Core nodes, their protocols and
 * outbounds — one service per noun, reached as `ctx.vpn.<noun>`), what Core node agents call, their
 * traffic ingest, and the sweeps that keep subscriptions and node statuses current.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { CoreNodeAdminService } from './core-node-admin.service.ts';
import { CoreNodeService } from './core-node.service.ts';
import { OutboundService } from './outbound.service.ts';
import { ProtocolService } from './protocol.service.ts';
import { SubscriptionLinkService } from './subscription-links.service.ts';
import { SubscriptionService } from './subscription.service.ts';
import { BATCH_KEY_PRUNE_INTERVAL_MS, UsageService } from './usage.service.ts';
import { VpnUserService } from './vpn-user.service.ts';

export interface VpnAdminServices {
  users: VpnUserService;
  subscriptions: SubscriptionService;
  nodes: CoreNodeAdminService;
  protocols: ProtocolService;
  outbounds: OutboundService;
}

export interface VpnModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  /** For traffic ingest: wakes the relay and job poller only after commits that wrote events. */
  ingestOutbox: Outbox;
  secrets: SecretBox;
  config: {
    coreNodeOfflineAfterMs: number;
    coreNodeSweepIntervalMs: number;
    vpnSubscriptionSweepIntervalMs: number;
  };
}

export function vpnModule(deps: VpnModuleDeps): ModuleManifest<{ vpn: VpnAdminServices; coreNodes: CoreNodeService; usage: UsageService }> {
  const { db, outbox, secrets, config } = deps;
  const vpn: VpnAdminServices = {
    users: new VpnUserService(db),
    subscriptions: new SubscriptionService(db, outbox, secrets),
    nodes: new CoreNodeAdminService(db, outbox, { offlineAfterMs: config.coreNodeOfflineAfterMs }),
    protocols: new ProtocolService(db, secrets),
    outbounds: new OutboundService(db),
  };
  const coreNodes = new CoreNodeService({ db, outbox, secrets, config });
  const usage = new UsageService({ db, outbox: deps.ingestOutbox, links: new SubscriptionLinkService(db, secrets) });
  return {
    services: { vpn, coreNodes, usage },
    // Every pass below is global and conditional per row, so one instance per tick is enough.
    schedules: [
      { name: 'vpn.sweep-subscriptions', scope: 'once-in-fleet', everyMs: config.vpnSubscriptionSweepIntervalMs, run: () => vpn.subscriptions.sweep() },
      { name: 'vpn.sweep-offline-core-nodes', scope: 'once-in-fleet', everyMs: config.coreNodeSweepIntervalMs, run: () => coreNodes.sweepOffline() },
      { name: 'vpn.prune-ingest-batch-keys', scope: 'once-in-fleet', everyMs: BATCH_KEY_PRUNE_INTERVAL_MS, run: () => usage.pruneBatchKeys() },
    ],
    // Held config long-polls answer at once instead of keeping shutdown waiting.
    stop: async () => coreNodes.releaseWaiters(),
  };
}
