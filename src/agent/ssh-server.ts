import type { AgentFeature, AgentRuntime } from './features.ts';

export class SshServerFeature implements AgentFeature {
  readonly name = 'ssh';

  async start(_runtime: AgentRuntime): Promise<void> {}

  async stop(): Promise<void> {}
}
