/** The fleet view over every node of every kind: no background work. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { FleetService, type KindDeleters } from './fleet.service.ts';

export interface InventoryModuleDeps {
  db: Kysely<Database>;
  /** Deleting from the fleet view goes through the kind's own rules. */
  deleters: KindDeleters;
}

export function inventoryModule(deps: InventoryModuleDeps): ModuleManifest<{ fleet: FleetService }> {
  return { services: { fleet: new FleetService(deps.db, deps.deleters) } };
}
