/**
 * Edge agents in the inventory: registration, sessions, health reports. Last-seen writes are
 * coalesced in a buffer flushed from start() to stop() (stop() also releases held statuses), and
 * nodes nothing was heard from are marked unreachable per owned cluster.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { sweepUnreachable } from '../../jobs/node-sweep.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { Naming } from '../clusters/naming.ts';
import { NodeService } from './node.service.ts';

export interface NodesModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  naming: Naming;
  secrets: SecretBox;
  /** URLs agents are told to use; known only once the server listens. */
  adminUrls: () => string[];
  log: Logger;
  /** Silence after which a node is unreachable, read on every sweep (an operator setting). */
  unreachableAfterMs: () => number;
  config: {
    derpMapUrl: string | null;
    adminSlotReservation: number;
    nodeStatusDebounceMs: number;
    nodeSweepIntervalMs: number;
  };
}

export function nodesModule(deps: NodesModuleDeps): ModuleManifest<{ nodes: NodeService }> {
  const { config, log } = deps;
  const nodes = new NodeService(deps.db, deps.outbox, deps.naming, deps.secrets, {
    adminUrls: deps.adminUrls,
    derpMapUrl: config.derpMapUrl,
    addressReservation: config.adminSlotReservation,
    statusDebounceMs: config.nodeStatusDebounceMs,
    onError: (error) => log.error({ err: error }, 'node last-seen flush failed'),
  });
  return {
    services: { nodes },
    schedules: [
      {
        name: 'nodes.sweep-unreachable',
        scope: 'owned-clusters',
        everyMs: config.nodeSweepIntervalMs,
        run: (clusterIds) =>
          sweepUnreachable(
            {
              findStale: (cutoff, ids) => nodes.findStale(cutoff, ids),
              markUnreachable: (nodeId) => nodes.markUnreachable(nodeId),
              flushLastSeen: () => nodes.flushLastSeen(),
            },
            deps.unreachableAfterMs(),
            clusterIds,
          ),
      },
    ],
    start: () => nodes.start(),
    stop: () => nodes.stop(),
  };
}
