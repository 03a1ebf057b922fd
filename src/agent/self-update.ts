import type { AgentFeature, AgentRuntime } from './features.ts';

export class SelfUpdater implements AgentFeature {
  readonly name = 'self-update';

  async start(_runtime: AgentRuntime): Promise<void> {}

  async stop(): Promise<void> {}
}
