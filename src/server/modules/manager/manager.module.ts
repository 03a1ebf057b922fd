/**
 * The manager face's nodes (bilbycast edges and relays): REST management and their live sessions.
 * On start, sessions this instance held before it stopped (or crashed) are over: those nodes go
 * offline; on stop, last-seen times still buffered are written.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { ManagerEventService } from './manager-event.service.ts';
import { ManagerNodeService } from './manager-node.service.ts';
import { NodeSessionService } from './node-session.service.ts';

export interface ManagerModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  instanceId: string;
  onError: (error: unknown) => void;
  /** The operators' `events_retention_days`, read on every prune. */
  retentionDays: () => number;
  /** Closes a deleted node's live session wherever it is (the node-channel seam). */
  closeSession(nodeId: string): void;
}

export interface ManagerServices {
  nodes: ManagerNodeService;
  sessions: NodeSessionService;
  events: ManagerEventService;
}

export function managerModule(deps: ManagerModuleDeps): ModuleManifest<ManagerServices> {
  const sessions = new NodeSessionService(deps);
  return {
    services: {
      nodes: new ManagerNodeService({ db: deps.db, closeSession: (id) => deps.closeSession(id) }),
      sessions,
      events: new ManagerEventService({ db: deps.db, retentionDays: deps.retentionDays }),
    },
    async start() {
      await sessions.releaseHeld();
      sessions.start();
    },
    async stop() {
      await sessions.stop();
    },
  };
}
