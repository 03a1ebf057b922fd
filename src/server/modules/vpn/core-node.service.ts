import type { ModuleDeps } from '../../context.ts';

/** What Core node agents do: register, heartbeat, fetch and apply config, report errors. */
export class CoreNodeService {
  constructor(readonly deps: ModuleDeps) {}

  /** The node an x-node-auth-key belongs to, or null. */
  async authenticate(_key: string): Promise<{ nodeId: string; coreId: number } | null> {
    return null;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
