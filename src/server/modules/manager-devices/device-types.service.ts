/**
 * The device driver registry as a service (manager spec §5.3): what `GET /api/v1/device-types`
 * answers, the per-driver dashboard metrics, and the role a command needs. Like the newer manager
 * (not MGR v0.4.4), a command below its declared role is refused; actions no driver declares go
 * through to the node, which answers `unknown_action` (edge) or "Unknown relay command" (relay).
 */
import type { DeviceTypesResponse, DriverMetrics } from '../../../contract/manager/device-types.ts';
import { hasRole } from '../../access.ts';
import { ForbiddenError } from '../../errors.ts';
import type { Principal } from '../../principal.ts';
import type { DeviceDriver } from './driver.ts';

/** A 403 the manager face answers with `error_code: "insufficient_role"` (the newer manager's word). */
export class InsufficientRoleError extends ForbiddenError {
  readonly errorCode = 'insufficient_role';
}

export class DeviceTypesService {
  private readonly byType: Map<string, DeviceDriver>;

  constructor(drivers: readonly DeviceDriver[]) {
    this.byType = new Map(drivers.map((driver) => [driver.deviceType, driver]));
  }

  list(): DeviceTypesResponse {
    return {
      device_types: [...this.byType.values()].map((driver) => ({
        device_type: driver.deviceType,
        display_name: driver.displayName,
        supported_commands: driver.commands.map((command) => ({ ...command })),
      })),
    };
  }

  isKnown(deviceType: string): boolean {
    return this.byType.has(deviceType);
  }

  /** The dashboard's `driver_metrics`; a node of an unregistered type shows none. */
  metrics(deviceType: string, stats: unknown): DriverMetrics {
    return this.byType.get(deviceType)?.metrics(stats) ?? { metrics: [], items: [] };
  }

  /** Refuses a declared command when the caller's role is below the one it requires. */
  assertCommandAllowed(principal: Principal, deviceType: string, actionType: string): void {
    const command = this.byType.get(deviceType)?.commands.find((candidate) => candidate.name === actionType);
    if (command && !hasRole(principal, command.requires_role)) throw new InsufficientRoleError(`${actionType} requires the ${command.requires_role} role`);
  }
}
