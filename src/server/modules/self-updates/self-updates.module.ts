/** Self-update requests: the job that triggers nodes over their channels, and the agents' answers. */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { AgentHub } from '../agent-stream/agent-hub.ts';
import { SELF_UPDATES_QUEUE, SelfUpdateService } from './self-update.service.ts';
import { UpdateTrigger } from './update-trigger.ts';

export interface SelfUpdatesModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  agentHub: AgentHub;
  log: Logger;
  config: { selfUpdateAckTimeoutMs: number };
}

export function selfUpdatesModule(deps: SelfUpdatesModuleDeps): ModuleManifest<{ selfUpdates: SelfUpdateService }> {
  const trigger = new UpdateTrigger(deps.agentHub, deps.log);
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
    frames: {
      self_update_ack: (nodeId, frame) => trigger.ack(nodeId, frame),
      self_update_result: (nodeId, frame) => trigger.result(nodeId, frame),
    },
    // Waiting triggers fail now rather than at their deadline.
    stop: async () => trigger.stop(),
  };
}
