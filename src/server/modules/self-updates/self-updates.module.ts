/** Self-update requests: the job that triggers nodes over their channels, and the agents' answers. */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { SelfUpdateResultFrame } from '../../../contract/agent-stream.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { NodeChannels } from '../../channels/node-channels.ts';
import { SELF_UPDATES_QUEUE, SelfUpdateService } from './self-update.service.ts';
import { UpdateTrigger } from './update-trigger.ts';

export interface SelfUpdatesModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  channels: NodeChannels;
  log: Logger;
  config: { selfUpdateAckTimeoutMs: number };
}

export function selfUpdatesModule(deps: SelfUpdatesModuleDeps): ModuleManifest<{ selfUpdates: SelfUpdateService }> {
  const trigger = new UpdateTrigger(deps.channels, deps.log);
  const selfUpdates = new SelfUpdateService({ db: deps.db, outbox: deps.outbox, trigger, config: deps.config });
  return {
    services: { selfUpdates },
    jobs: {
      [SELF_UPDATES_QUEUE]: {
        handler: (job) => selfUpdates.process(job),
        concurrency: 4,
        backoffMs: (attempt) => 1000 * 2 ** attempt,
        // The job waits for acknowledgements; its lease must outlast that wait.
        leaseMs: deps.config.selfUpdateAckTimeoutMs + 60_000,
      },
    },
    // Acks answer the trigger's channel requests; results are the only frames this module handles.
    frames: {
      self_update_result: (nodeId, frame) => trigger.result(nodeId, frame as unknown as SelfUpdateResultFrame),
    },
    // Waiting triggers fail now rather than at their deadline.
    stop: async () => trigger.stop(),
  };
}
