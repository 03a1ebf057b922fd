import type { ModuleDeps } from '../../context.ts';

/** The VPN domain's admin side: users, subscriptions, Core nodes, protocols, outbounds, grants. */
export class VpnService {
  constructor(readonly deps: ModuleDeps) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
