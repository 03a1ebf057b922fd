/**
 * The device drivers the manager knows (manager spec §1.7): the `device_type` an operator picks when
 * creating a node, the inventory kind it becomes, and the protocol version current nodes of that
 * type send (a different one is recorded as a `compatibility` warning, never refused).
 */
import type { DeviceType } from '../../../contract/manager/nodes.ts';
import { MANAGER_EDGE_KIND, MANAGER_RELAY_KIND } from '../inventory/kinds.ts';

export interface DeviceDriver {
  deviceType: DeviceType;
  kind: typeof MANAGER_EDGE_KIND | typeof MANAGER_RELAY_KIND;
  displayName: string;
  protocolVersion: number;
}

export const DEVICE_DRIVERS: Record<DeviceType, DeviceDriver> = {
  edge: { deviceType: 'edge', kind: MANAGER_EDGE_KIND, displayName: 'Edge Transport Node', protocolVersion: 4 },
  relay: { deviceType: 'relay', kind: MANAGER_RELAY_KIND, displayName: 'Relay Server', protocolVersion: 1 },
};

export const MANAGER_KINDS: readonly string[] = [MANAGER_EDGE_KIND, MANAGER_RELAY_KIND];

export const driverOf = (deviceType: string): DeviceDriver | undefined =>
  Object.hasOwn(DEVICE_DRIVERS, deviceType) ? DEVICE_DRIVERS[deviceType as DeviceType] : undefined;
