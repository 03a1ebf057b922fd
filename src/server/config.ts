import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';

/** The only reader of process.env. Everything else receives a frozen Config. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  masterKey: string | null;
  apiKey: string | null;
  metricsKey: string | null;
  logLevel: string;
  defaultClusterName: string | null;
  publicEnrollmentKeyEnabled: boolean;
  adminUrls: string[] | null;
  derpMapUrl: string | null;
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  secretKey: string | null;
  vpnDomain: string;
  clusterAutoRanges: string[];
  clusterSubnetPrefix: number;
  adminSlotReservation: number;
  nodeSlotReservation: number;
  maxWireguardPeers: number;
  adminClusterName: string;
  instanceHeartbeatMs: number;
  instanceTtlMs: number;
  coreName: string;
  bodyLimitBytes: number;
  agentPingIntervalMs: number;
  agentHealthIntervalMs: number;
  nodeUnreachableAfterMs: number;
  nodeSweepIntervalMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dotenvPath = path.join(cwd, '.env');
  const merged: Env = existsSync(dotenvPath) ? { ...parseDotenv(readFileSync(dotenvPath)), ...env } : env;
  const read = (name: string): string | undefined => {
    const value = merged[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  };
  const list = (name: string): string[] | undefined =>
    read(name)?.split(',').map((s) => s.trim()).filter(Boolean);

  const dataDir = path.resolve(cwd, read('DATA_DIR') ?? './data');
  const databaseUrl = read('DATABASE_URL') ?? `sqlite:${path.join(dataDir, 'nodeplane.db')}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be sqlite:<path> or postgres://…');
  }
  const tlsCertFile = read('TLS_CERT_FILE') ?? null;
  const tlsKeyFile = read('TLS_KEY_FILE') ?? null;
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) {
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  const subnetPrefix = int('CLUSTER_SUBNET_PREFIX', 24, 8, 30);

  return Object.freeze({
    port: int('PORT', 8080, 0, 65535),
    host: read('HOST') ?? '0.0.0.0',
    dataDir,
    databaseUrl,
    masterKey: read('MASTER_KEY') ?? null,
    apiKey: read('API_KEY') ?? null,
    metricsKey: read('METRICS_KEY') ?? null,
    logLevel: read('LOG_LEVEL') ?? 'info',
    defaultClusterName: read('DEFAULT_CLUSTER_NAME') ?? null,
    publicEnrollmentKeyEnabled: bool('PUBLIC_ENROLLMENT_KEY_ENABLED', false),
    adminUrls: list('ADMIN_URLS') ?? null,
    derpMapUrl: read('DERP_MAP_URL') ?? null,
    tlsCertFile,
    tlsKeyFile,
    secretKey: read('NODEPLANE_SECRET_KEY') ?? null,
    vpnDomain: read('VPN_DOMAIN') ?? 'nm.internal',
    clusterAutoRanges: list('CLUSTER_AUTO_GENERATED_RANGES') ?? ['100.64.0.0/10'],
    clusterSubnetPrefix: subnetPrefix,
    adminSlotReservation: int('ADMIN_SLOT_RESERVATION', 10),
    nodeSlotReservation: int('NODE_SLOT_RESERVATION', 10),
    maxWireguardPeers: int('ADMIN_MAX_WIREGUARD_PEERS', 50_000, 1),
    adminClusterName: read('ADMIN_CLUSTER_NAME') ?? '1',
    instanceHeartbeatMs: int('INSTANCE_HEARTBEAT_MS', 10_000, 100),
    instanceTtlMs: int('INSTANCE_TTL_MS', 30_000, 300),
    coreName: read('CORE_NAME') ?? 'default',
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 8 * 1024 * 1024, 1024),
    agentPingIntervalMs: int('AGENT_PING_INTERVAL_MS', 30_000, 50),
    agentHealthIntervalMs: int('AGENT_HEALTH_INTERVAL_MS', 30_000, 100),
    nodeUnreachableAfterMs: int('NODE_UNREACHABLE_AFTER_MS', 300_000, 100),
    nodeSweepIntervalMs: int('NODE_SWEEP_INTERVAL_MS', 60_000, 50),
  });
}

/** ADMIN_URLS when set, else the URL this instance listens on. */
export function effectiveAdminUrls(config: Config, listeningPort: number): string[] {
  if (config.adminUrls) return config.adminUrls;
  const scheme = config.tlsCertFile ? 'https' : 'http';
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return [`${scheme}://${host.includes(':') ? `[${host}]` : host}:${listeningPort}`];
}
