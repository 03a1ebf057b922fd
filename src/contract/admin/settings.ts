/** Operator settings (manager spec §5.5): integer keys with fixed ranges, saved all-or-nothing. */
import { Type, type Static, type TInteger, type TOptional } from 'typebox';

/** Every key with its range and the spec's default (an environment variable may set another default). */
export const SETTINGS = {
  events_retention_days: { min: 1, max: 365, default: 30 },
  ws_keepalive_interval_secs: { min: 1, max: 300, default: 15 },
  session_lifetime_hours: { min: 1, max: 720, default: 24 },
  max_login_attempts: { min: 1, max: 100, default: 5 },
  node_offline_threshold_secs: { min: 5, max: 3600, default: 30 },
  stats_broadcast_interval_ms: { min: 100, max: 60000, default: 1000 },
} as const;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
export type SettingValues = Record<SettingKey, number>;

const ranged = (key: SettingKey) => Type.Integer({ minimum: SETTINGS[key].min, maximum: SETTINGS[key].max });

export const Settings = Type.Object(Object.fromEntries(SETTING_KEYS.map((key) => [key, Type.Integer()])) as Record<SettingKey, TInteger>);

export const SettingsUpdateRequest = Type.Object(
  {
    settings: Type.Object(Object.fromEntries(SETTING_KEYS.map((key) => [key, Type.Optional(ranged(key))])) as Record<SettingKey, TOptional<TInteger>>, {
      additionalProperties: false,
    }),
  },
  { additionalProperties: false },
);
export type SettingsUpdateRequest = Static<typeof SettingsUpdateRequest>;
