import type { ModuleDeps } from '../../context.ts';

/** Traffic from Core nodes: per-minute usage, outbound counters, session events, limits. */
export class UsageService {
  constructor(readonly deps: ModuleDeps) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
