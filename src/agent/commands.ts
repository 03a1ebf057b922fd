import type { AgentFeature, AgentRuntime } from './features.ts';

export class CommandRunner implements AgentFeature {
  readonly name = 'commands';

  async start(_runtime: AgentRuntime): Promise<void> {}

  async stop(): Promise<void> {}
}
