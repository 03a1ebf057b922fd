/**
 * Features plug into the running agent: each gets the runtime (config, logger, the authenticated
 * API client, the stream's frames) once the node is registered, and is stopped before the stream
 * closes. The list below is the one place that decides what an agent runs.
 */
import type { Logger } from 'pino';
import type { AgentMetrics } from './agent-metrics.ts';
import type { ApiClient } from './api-client.ts';
import type { AgentConfig } from '../shared/config.ts';
import type { StreamClient } from './stream.ts';
import { CommandRunner } from './commands.ts';
import { SshServerFeature } from './ssh-server.ts';
import { SelfUpdater } from './self-update.ts';

export interface AgentRuntime {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  /** `on(type, handler)` for server frames; `send(frame)` while open. */
  readonly stream: StreamClient;
  /** Authenticated as this node; its token follows re-registrations. */
  readonly api: ApiClient;
  readonly nodeId: string;
  /** Aborted when the agent shuts down. */
  readonly signal: AbortSignal;
}

export interface AgentFeature {
  readonly name: string;
  start(runtime: AgentRuntime): Promise<void>;
  stop(): Promise<void>;
}

export function createFeatures(): AgentFeature[] {
  return [new CommandRunner(), new SshServerFeature(), new SelfUpdater()];
}
