/** The manager face's device drivers (edge, relay): no state, no background work. */
import type { ModuleManifest } from '../../manifest.ts';
import { DeviceTypesService } from './device-types.service.ts';
import { DRIVERS } from './drivers.ts';

export function managerDevicesModule(): ModuleManifest<{ deviceTypes: DeviceTypesService }> {
  return { services: { deviceTypes: new DeviceTypesService(DRIVERS) } };
}
