/**
 * The VPN domain's admin side: users, subscriptions (with grants), Core nodes, their protocols and
 * outbounds — one service per noun, reached as `ctx.vpn.<noun>` — plus the periodic subscription
 * sweep (expiry and traffic resets).
 */
import type { ModuleDeps } from '../../context.ts';
import { CoreNodeAdminService } from './core-node-admin.service.ts';
import { OutboundService } from './outbound.service.ts';
import { ProtocolService } from './protocol.service.ts';
import { SubscriptionService } from './subscription.service.ts';
import { VpnUserService } from './vpn-user.service.ts';

export class VpnService {
  readonly users: VpnUserService;
  readonly subscriptions: SubscriptionService;
  readonly nodes: CoreNodeAdminService;
  readonly protocols: ProtocolService;
  readonly outbounds: OutboundService;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;

  constructor(readonly deps: ModuleDeps) {
    const { db, outbox, secrets, config } = deps;
    this.users = new VpnUserService(db);
    this.subscriptions = new SubscriptionService(db, outbox, secrets);
    this.nodes = new CoreNodeAdminService(db, outbox, { offlineAfterMs: config.coreNodeOfflineAfterMs });
    this.protocols = new ProtocolService(db, secrets);
    this.outbounds = new OutboundService(db);
  }

  /** One sweep pass; overlapping calls share it. */
  sweep(): Promise<unknown> {
    this.sweeping ??= this.subscriptions.sweep().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      this.sweep().catch((error) => this.deps.log.error({ err: error }, 'subscription sweep failed'));
    }, this.deps.config.vpnSubscriptionSweepIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping?.catch(() => {});
  }
}
