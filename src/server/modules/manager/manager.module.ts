/**
 * The manager face's nodes (bilbycast edges and relays): REST management and their live sessions.
 * On start, sessions this instance held before it stopped (or crashed) are over: those nodes go
 * offline; on stop, last-seen times still buffered are written. Once in the fleet, nodes a dead
 * instance still holds go offline after the offline threshold (no instance would ever close them).
 */
import type { Kysely } from 'kysely';
import type { NodeChannels } from '../../channels/node-channels.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { DeviceTypesService } from '../manager-devices/device-types.service.ts';
import { ManagerEventService } from './manager-event.service.ts';
import { ManagerNodeService } from './manager-node.service.ts';
import { NodeCommandService } from './node-command.service.ts';
import { NodeSessionService } from './node-session.service.ts';

export interface ManagerModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  instanceId: string;
  onError: (error: unknown) => void;
  /** The operators' `events_retention_days`, read on every prune. */
  retentionDays: () => number;
  /** How often the latest `stats` of each streaming node is sampled to the database. */
  statsSampleMs: number;
  /** Closes a deleted node's live session wherever it is (the node-channel seam). */
  closeSession(nodeId: string): void;
  channels: NodeChannels;
  deviceTypes: DeviceTypesService;
  commandTimeoutMs: number;
  /** Silence after which a node held by a dead instance is offline (`node_offline_threshold_secs`). */
  offlineAfterMs(): number;
  /** Instances with a fresh membership heartbeat: only their sessions are alive. */
  liveInstanceIds(): Promise<string[]>;
  /** How often the orphaned-session sweep runs (the membership heartbeat period). */
  sweepEveryMs: number;
}

export interface ManagerServices {
  nodes: ManagerNodeService;
  sessions: NodeSessionService;
  commands: NodeCommandService;
  events: ManagerEventService;
}

export function managerModule(deps: ManagerModuleDeps): ModuleManifest<ManagerServices> {
  const sessions = new NodeSessionService(deps);
  const commands = new NodeCommandService({ ...deps, timeoutMs: deps.commandTimeoutMs });
  return {
    services: {
      nodes: new ManagerNodeService({ db: deps.db, closeSession: (id) => deps.closeSession(id) }),
      sessions,
      commands,
      events: new ManagerEventService({ db: deps.db, retentionDays: deps.retentionDays }),
    },
    // Replies no request waits for (any more): a late ack, a config the node reported unasked.
    frames: {
      command_ack: (nodeId) => commands.lateAck(nodeId),
      config_response: (nodeId, frame) => commands.configReported(nodeId, frame.payload),
    },
    schedules: [
      {
        name: 'manager.sweep-orphaned-sessions',
        scope: 'once-in-fleet',
        everyMs: deps.sweepEveryMs,
        run: async () => sessions.sweepOrphaned(deps.offlineAfterMs(), await deps.liveInstanceIds()),
      },
    ],
    async start() {
      await sessions.releaseHeld();
      sessions.start();
    },
    async stop() {
      await sessions.stop();
    },
  };
}
