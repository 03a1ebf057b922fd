/**
 * Composition root: every repo-backed service, the outbox and the relay, wired by hand.
 * Reading this file top to bottom tells what the server is made of.
 */
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { DatabaseHandle } from './db/dialect.ts';
import { Outbox } from './events/outbox.ts';
import { EventRelay } from './events/relay.ts';
import type { BootKeys } from './keys.ts';
import { SecretBox } from './lib/secrets.ts';
import { ClusterService } from './modules/clusters/cluster.service.ts';
import { Naming } from './modules/clusters/naming.ts';

export interface AppContext {
  config: Config;
  keys: BootKeys;
  database: DatabaseHandle;
  log: Logger;
  secrets: SecretBox;
  outbox: Outbox;
  relay: EventRelay;
  naming: Naming;
  clusters: ClusterService;
  /** Stops background work; the database handle is closed by its owner. */
  stop(): Promise<void>;
}

export async function createContext(config: Config, keys: BootKeys, database: DatabaseHandle, log: Logger): Promise<AppContext> {
  const { db } = database;
  const relay = new EventRelay(db, 1000, (error) => log.error({ err: error }, 'event relay failed'));
  const outbox = new Outbox(db, config.coreName, () => relay.kick());
  const naming = new Naming(config.vpnDomain);
  const clusters = new ClusterService(db, naming, {
    autoRanges: config.clusterAutoRanges,
    subnetPrefix: config.clusterSubnetPrefix,
    slotReservation: config.adminSlotReservation + config.nodeSlotReservation,
  });

  await relay.start();

  return {
    config,
    keys,
    database,
    log,
    secrets: new SecretBox(keys.dataKey),
    outbox,
    relay,
    naming,
    clusters,
    async stop() {
      await relay.stop();
    },
  };
}
