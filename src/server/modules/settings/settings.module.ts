/**
 * Operator settings: a per-instance cache loaded at start, refreshed by other instances' signals
 * and, as the fallback for lost signals and SQLite's in-process bus, on every heartbeat period.
 */
import type { Kysely } from 'kysely';
import type { SignalBus } from '../../channels/signal-bus.ts';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import { SettingsService } from './settings.service.ts';

export interface SettingsModuleDeps {
  db: Kysely<Database>;
  bus: SignalBus;
  onError: (error: unknown) => void;
  config: { eventRetentionDays: number; nodeUnreachableAfterMs: number; agentPingIntervalMs: number; instanceHeartbeatMs: number };
}

export function settingsModule(deps: SettingsModuleDeps): ModuleManifest<{ settings: SettingsService }> {
  const { config } = deps;
  const settings = new SettingsService({
    db: deps.db,
    bus: deps.bus,
    onError: deps.onError,
    env: {
      eventRetentionDays: config.eventRetentionDays,
      nodeUnreachableAfterMs: config.nodeUnreachableAfterMs,
      agentPingIntervalMs: config.agentPingIntervalMs,
    },
  });
  return {
    services: { settings },
    schedules: [{ name: 'settings.refresh', scope: 'every-instance', everyMs: config.instanceHeartbeatMs, run: () => settings.refresh() }],
    start: () => settings.start(),
  };
}
