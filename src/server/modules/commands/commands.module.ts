/**
 * Commands and their executions: the fan-out job, pushing pending work when an agent connects, and
 * the expiry and pruning passes.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { NodeChannels } from '../../channels/node-channels.ts';
import { CommandService, EXECUTION_CREATION_QUEUE } from './command.service.ts';

export interface CommandsModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  channels: NodeChannels;
  log: Logger;
  config: {
    executionExpirySweepMs: number;
    executionPruningEnabled: boolean;
    executionPruningIntervalMs: number;
    executionRetentionDays: number;
  };
}

export function commandsModule(deps: CommandsModuleDeps): ModuleManifest<{ commands: CommandService }> {
  const { config } = deps;
  const commands = new CommandService(deps);
  return {
    services: { commands },
    jobs: {
      [EXECUTION_CREATION_QUEUE]: {
        handler: (job) => commands.createExecutions(job),
        concurrency: 4,
        backoffMs: (attempt) => 1000 * 2 ** attempt,
      },
    },
    onConnect: (nodeId) => commands.pushPending(nodeId),
    schedules: [
      {
        name: 'commands.expire-executions',
        scope: 'owned-clusters',
        everyMs: config.executionExpirySweepMs,
        run: (clusterIds) => commands.expireOwned(clusterIds),
      },
      { name: 'commands.expire-orphaned-executions', scope: 'once-in-fleet', everyMs: config.executionExpirySweepMs, run: () => commands.expireOrphans() },
      ...(config.executionPruningEnabled
        ? [{ name: 'commands.prune-executions', scope: 'once-in-fleet' as const, everyMs: config.executionPruningIntervalMs, run: () => commands.prune() }]
        : []),
    ],
  };
}
