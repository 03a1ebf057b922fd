/**
 * What a device driver is (manager spec §5.3, §4): the node kind's commands with the role each
 * needs, and how its `stats` read on the dashboard. One file per driver; `drivers.ts` lists them.
 */
import type { DeviceCommand, DriverMetrics } from '../../../contract/manager/device-types.ts';

export interface DeviceDriver {
  /** The word chosen at node creation (`POST /api/v1/nodes` `device_type`); nodes never send it. */
  deviceType: string;
  displayName: string;
  commands: readonly DeviceCommand[];
  /** Summary of a node's latest `stats` payload; any shape in, never throws. */
  metrics(stats: unknown): DriverMetrics;
}

export type Stats = Record<string, unknown>;

export const asRecord = (value: unknown): Stats => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Stats) : {});
export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A counter as the node sent it, or 0: a missing or malformed field must not hide the others. */
export const counter = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
