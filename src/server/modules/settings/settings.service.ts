/**
 * Operator settings (manager spec §5.5), wired to behaviour: the events and audit retention, the
 * agents' ping interval, the silence threshold of the node sweep, session lifetime and login
 * attempts (`policy()`, for the operators module), and the dashboard stream's broadcast interval.
 *
 * Behaviour reads a per-instance cache. A save refreshes the saving instance's cache at once and
 * signals the others over the signal bus (Postgres LISTEN/NOTIFY); every instance also re-reads on
 * a timer, because signals are hints (SQLite's bus is in-process, a NOTIFY can be lost). The
 * settings API itself reads the database, so it always answers what is saved.
 *
 * Where an environment variable already set the same thing (EVENT_RETENTION_DAYS,
 * NODE_UNREACHABLE_AFTER_MS, AGENT_PING_INTERVAL_MS), its value is the default until a setting is saved.
 */
import type { Kysely, Transaction } from 'kysely';
import { SETTING_KEYS, SETTINGS, type SettingKey, type SettingValues } from '../../../contract/admin/settings.ts';
import { assertRole } from '../../access.ts';
import type { SignalBus } from '../../channels/signal-bus.ts';
import type { Database } from '../../db/schema.ts';
import type { SettingRow } from '../../db/tables/audit-settings.ts';
import { ValidationError, type ValidationDetails } from '../../errors.ts';
import { nowIso } from '../../lib/time.ts';
import type { Principal } from '../../principal.ts';
import { settingsRepo } from './settings.repo.ts';

const CHANGED_TOPIC = 'settings.changed';

/** What the operators module needs to know, read on every login and session check. */
export interface SessionPolicy {
  sessionLifetimeHours: number;
  maxLoginAttempts: number;
}

export interface SettingsDeps {
  db: Kysely<Database>;
  bus: SignalBus;
  onError: (error: unknown) => void;
  /** The environment's values of the settings it already had. */
  env: { eventRetentionDays: number; nodeUnreachableAfterMs: number; agentPingIntervalMs: number };
}

const isKey = (key: string): key is SettingKey => Object.hasOwn(SETTINGS, key);
const seconds = (ms: number) => Math.max(1, Math.round(ms / 1000));

/** Who saved a setting, as `settings.updated_by` records it. */
function savedBy(principal: Principal): string | null {
  switch (principal.type) {
    case 'operator':
      return principal.id;
    case 'api-key':
      return `api-key:${principal.key}`;
    default:
      return null;
  }
}

export class SettingsService {
  private saved = new Map<SettingKey, number>();
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly deps: SettingsDeps) {}

  /** Subscribes to other instances' saves and loads the cache. */
  async start(): Promise<void> {
    const { bus } = this.deps;
    bus.subscribe(CHANGED_TOPIC, (_data, from) => {
      if (from !== bus.instanceId) this.refresh().catch(this.deps.onError);
    });
    bus.onResync(() => this.refresh().catch(this.deps.onError));
    await this.refresh();
  }

  /** Every key with its value: saved, else the default. */
  async all(principal: Principal): Promise<SettingValues> {
    assertRole(principal, 'admin');
    return this.merge(this.parse(await settingsRepo.all(this.deps.db)));
  }

  /** Saves every given key, or none when any is unknown or out of range; answers all settings. */
  async update(principal: Principal, input: Record<string, unknown>): Promise<SettingValues> {
    assertRole(principal, 'admin');
    const details: ValidationDetails = {};
    const rows: SettingRow[] = [];
    const at = nowIso();
    for (const [key, value] of Object.entries(input)) {
      if (!isKey(key)) {
        details[key] = ['is not a setting'];
        continue;
      }
      const { min, max } = SETTINGS[key];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        details[key] = [`must be an integer from ${min} to ${max}`];
        continue;
      }
      rows.push({ key, value: String(value), updated_at: at, updated_by: savedBy(principal) });
    }
    if (Object.keys(details).length > 0) throw new ValidationError(details);
    await settingsRepo.upsert(this.deps.db, rows);
    await this.refresh();
    if (rows.length > 0)
      this.deps.bus
        .publish(
          CHANGED_TOPIC,
          rows.map((row) => row.key),
        )
        .catch(this.deps.onError);
    return this.merge(this.saved);
  }

  /** The saved settings as an export's `[key, value]` pairs (defaults are not exported). */
  async exportPairs(db: Kysely<Database>): Promise<Array<[string, string]>> {
    return [...this.parse(await settingsRepo.all(db))].map(([key, value]) => [key, String(value)]);
  }

  /**
   * Restores an export's settings inside the import's transaction: every pair must be a known key
   * with an integer in range (else nothing is imported). Other instances, and this one, pick the
   * values up on their next refresh.
   */
  async restorePairs(trx: Transaction<Database>, pairs: Array<[string, string]>, dryRun: boolean) {
    const details: ValidationDetails = {};
    for (const [key, text] of pairs) {
      const value = Number(text);
      if (!isKey(key)) details[`settings.${key}`] = ['is not a setting'];
      else if (!/^-?\d+$/.test(text) || value < SETTINGS[key].min || value > SETTINGS[key].max)
        details[`settings.${key}`] = [`must be an integer from ${SETTINGS[key].min} to ${SETTINGS[key].max}`];
    }
    if (Object.keys(details).length > 0) throw new ValidationError(details);
    const saved = this.parse(await settingsRepo.all(trx));
    const counts = { created: 0, updated: 0, unchanged: 0 };
    const rows: SettingRow[] = [];
    const at = nowIso();
    for (const [key, text] of pairs) {
      const current = saved.get(key as SettingKey);
      const bucket = current === undefined ? 'created' : current === Number(text) ? 'unchanged' : 'updated';
      counts[bucket] += 1;
      if (bucket !== 'unchanged') rows.push({ key, value: String(Number(text)), updated_at: at, updated_by: 'import' });
    }
    if (!dryRun) await settingsRepo.upsert(trx, rows);
    return counts;
  }

  /** Re-reads the saved settings; tells the listeners when the effective values moved. */
  async refresh(): Promise<void> {
    const next = this.parse(await settingsRepo.all(this.deps.db));
    const changed = SETTING_KEYS.some((key) => next.get(key) !== this.saved.get(key));
    this.saved = next;
    if (!changed) return;
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.deps.onError(error);
      }
    }
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Days events and audit rows are kept; 0 (only from EVENT_RETENTION_DAYS) keeps them forever. */
  eventRetentionDays(): number {
    return this.saved.get('events_retention_days') ?? this.deps.env.eventRetentionDays;
  }

  /** Silence after which the node sweep marks an edge node unreachable. */
  nodeUnreachableAfterMs(): number {
    const secs = this.saved.get('node_offline_threshold_secs');
    return secs === undefined ? this.deps.env.nodeUnreachableAfterMs : secs * 1000;
  }

  /** The agent hub's WebSocket ping period (a missed pong ends the channel). */
  agentPingIntervalMs(): number {
    const secs = this.saved.get('ws_keepalive_interval_secs');
    return secs === undefined ? this.deps.env.agentPingIntervalMs : secs * 1000;
  }

  /** For the manager face's dashboard stream (not served yet). */
  statsBroadcastIntervalMs(): number {
    return this.saved.get('stats_broadcast_interval_ms') ?? SETTINGS.stats_broadcast_interval_ms.default;
  }

  policy = (): SessionPolicy => ({
    sessionLifetimeHours: this.saved.get('session_lifetime_hours') ?? SETTINGS.session_lifetime_hours.default,
    maxLoginAttempts: this.saved.get('max_login_attempts') ?? SETTINGS.max_login_attempts.default,
  });

  private defaults(): SettingValues {
    const values = Object.fromEntries(SETTING_KEYS.map((key) => [key, SETTINGS[key].default])) as SettingValues;
    const { env } = this.deps;
    return {
      ...values,
      events_retention_days: env.eventRetentionDays,
      node_offline_threshold_secs: seconds(env.nodeUnreachableAfterMs),
      ws_keepalive_interval_secs: seconds(env.agentPingIntervalMs),
    };
  }

  private merge(saved: Map<SettingKey, number>): SettingValues {
    return { ...this.defaults(), ...Object.fromEntries(saved) };
  }

  /** Rows whose key is no longer a setting, or whose text is no integer, are ignored. */
  private parse(rows: SettingRow[]): Map<SettingKey, number> {
    const saved = new Map<SettingKey, number>();
    for (const row of rows) {
      const value = Number(row.value);
      if (isKey(row.key) && Number.isInteger(value)) saved.set(row.key, value);
    }
    return saved;
  }
}
