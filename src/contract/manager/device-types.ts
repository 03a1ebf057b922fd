/** `GET /api/v1/device-types` (manager spec §5.3): the device drivers and the commands they declare. */
import { Type, type Static } from 'typebox';

export const DeviceCommand = Type.Object({
  name: Type.String(),
  description: Type.String(),
  requires_role: Type.Enum(['viewer', 'operator', 'admin', 'super_admin']),
});
export type DeviceCommand = Static<typeof DeviceCommand>;

export const DeviceType = Type.Object({
  device_type: Type.String(),
  display_name: Type.String(),
  supported_commands: Type.Array(DeviceCommand),
});
export type DeviceType = Static<typeof DeviceType>;

export const DeviceTypesResponse = Type.Object({ device_types: Type.Array(DeviceType) });
export type DeviceTypesResponse = Static<typeof DeviceTypesResponse>;

/** A driver's summary of a node's latest `stats` for the dashboard stream (§4). */
export const DriverMetrics = Type.Object({
  metrics: Type.Array(Type.Tuple([Type.String(), Type.Number()])),
  items: Type.Array(Type.Unknown()),
});
export type DriverMetrics = Static<typeof DriverMetrics>;
