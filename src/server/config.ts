import { existsSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
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
  /** The super_admin created on a first start with no operators. */
  operatorUsername: string;
  /** Its password; null = generate one into DATA_DIR/operator-password. */
  operatorPassword: string | null;
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
  /** A node whose live channel closed is unreachable after this long without a reconnect or report. */
  nodeChannelGraceMs: number;
  /** At most one agent-reported edge.node.status_changed per node per this many ms. */
  nodeStatusDebounceMs: number;
  /** Core nodes without a heartbeat for this long become `offline`. */
  coreNodeOfflineAfterMs: number;
  coreNodeSweepIntervalMs: number;
  /** How often subscriptions past expires_at expire and periodic traffic resets run. */
  vpnSubscriptionSweepIntervalMs: number;
  /** How often open executions past their command's deadline are expired. */
  executionExpirySweepMs: number;
  /** Pruning of finalised executions older than the retention (edge-admin spec §8.4); off by default. */
  executionPruningEnabled: boolean;
  executionPruningIntervalMs: number;
  executionRetentionDays: number;
  /** How long a self-update request waits for its agents' `self_update_ack` frames. */
  selfUpdateAckTimeoutMs: number;
  /** Lifts the webhook SSRF range checks (tests deliver to loopback with it). */
  webhookAllowPrivateIps: boolean;
  webhookMaxAttempts: number;
  /** Retry delay after attempt n ≈ base + 2^n × base/15, plus up to 10 % jitter (15 s + 2^n s by default). */
  webhookRetryBaseMs: number;
  webhookTimeoutMs: number;
  webhookConcurrency: number;
  /** Deliveries whose job is older than this are dropped; 0 = no limit. */
  eventDeliveryMaxAgeSeconds: number;
  /** nats://…, redis(s)://… or mqtt(s)://…; null = no broker. */
  eventBrokerUrl: string | null;
  /** Consumed events older than this are pruned from the outbox; 0 = keep forever. */
  eventRetentionDays: number;
  eventPruningIntervalMs: number;
  /** Failed enrollment-key verifications of one key and outcome are recorded once per window, with a count. */
  failedVerifyEventWindowMs: number;
  /** Refused unauthenticated calls and failed logins recorded one by one per client address and window; the rest as one aggregate row. */
  auditRefusalsPerAddress: number;
  auditRefusalsWindowMs: number;
  /** Requests per client IP and route per window on public routes (enrollment, registration); 0 = no limit. */
  rateLimitPublicMax: number;
  rateLimitPublicWindowMs: number;
  /** Fetches of one subscription link per client IP per window; 0 = no limit. */
  rateLimitSubscriptionMax: number;
  /** Fastify's trustProxy: false, true, a hop count or a list of proxy addresses/CIDRs. */
  trustProxy: boolean | number | string[];
  /** Body limit of the unauthenticated routes (enrollment, registration); BODY_LIMIT_BYTES covers the rest. */
  publicBodyLimitBytes: number;
  /** Body limit of POST /api/v1/import alone: a whole fleet's export is far larger than any other request. */
  importBodyLimitBytes: number;
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  /** The manager face's own TLS listener (manager spec §1.1, §5.8); null = off. */
  managerPort: number | null;
  managerHost: string;
  /** Both or neither; neither = a self-signed certificate generated into the data dir. */
  managerTlsCertFile: string | null;
  managerTlsKeyFile: string | null;
  /** How long a node may take to send its auth frame on /ws/node. */
  managerAuthTimeoutMs: number;
  /** How long `POST /api/v1/nodes/{id}/command` waits for the node's ack (the manager's 10 s). */
  managerCommandTimeoutMs: number;
  /** How often the latest `stats` of each streaming manager node is written to the database. */
  managerStatsSampleMs: number;
}

class ConfigError extends Error {}

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
    read(name)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);

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
  const eventBrokerUrl = read('EVENT_BROKER_URL') ?? null;
  if (eventBrokerUrl !== null && !/^(nats|redis|rediss|mqtt|mqtts):\/\/[^/]/.test(eventBrokerUrl)) {
    throw new ConfigError('EVENT_BROKER_URL must be nats://…, redis://…, rediss://…, mqtt://… or mqtts://…');
  }

  const operatorUsername = read('OPERATOR_USERNAME') ?? 'admin';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(operatorUsername)) {
    throw new ConfigError('OPERATOR_USERNAME must be 1–64 characters of A–Z, a–z, 0–9, _ . - starting with a letter or digit');
  }
  const operatorPassword = merged.OPERATOR_PASSWORD === undefined || merged.OPERATOR_PASSWORD === '' ? null : merged.OPERATOR_PASSWORD;
  if (operatorPassword !== null && (operatorPassword.length < 8 || operatorPassword.length > 128)) {
    throw new ConfigError('OPERATOR_PASSWORD must be 8–128 characters');
  }

  const headersTimeoutMs = int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 3_600_000);
  const requestTimeoutMs = int('HTTP_REQUEST_TIMEOUT_MS', 60_000, 100, 3_600_000);
  // Node refuses a headers timeout longer than the request timeout.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');

  const managerTlsCertFile = read('MANAGER_TLS_CERT_FILE') ?? null;
  const managerTlsKeyFile = read('MANAGER_TLS_KEY_FILE') ?? null;
  if ((managerTlsCertFile === null) !== (managerTlsKeyFile === null)) {
    throw new ConfigError('MANAGER_TLS_CERT_FILE and MANAGER_TLS_KEY_FILE must be set together');
  }
  const host = read('HOST') ?? '0.0.0.0';

  return Object.freeze({
    port: int('PORT', 8080, 0, 65535),
    host,
    dataDir,
    databaseUrl,
    masterKey: read('MASTER_KEY') ?? null,
    apiKey: read('API_KEY') ?? null,
    metricsKey: read('METRICS_KEY') ?? null,
    operatorUsername,
    operatorPassword,
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
    nodeChannelGraceMs: int('NODE_CHANNEL_GRACE_MS', 10_000, 0, 3_600_000),
    nodeStatusDebounceMs: int('NODE_STATUS_DEBOUNCE_MS', 5_000, 0, 3_600_000),
    coreNodeOfflineAfterMs: int('CORE_NODE_OFFLINE_AFTER_MS', 90_000, 100),
    coreNodeSweepIntervalMs: int('CORE_NODE_SWEEP_INTERVAL_MS', 15_000, 50),
    vpnSubscriptionSweepIntervalMs: int('VPN_SUBSCRIPTION_SWEEP_INTERVAL_MS', 30_000, 50),
    executionExpirySweepMs: int('EXECUTION_EXPIRY_SWEEP_MS', 60_000, 50),
    executionPruningEnabled: bool('EXECUTION_PRUNING_ENABLED', false),
    executionPruningIntervalMs: int('EXECUTION_PRUNING_INTERVAL_MS', 86_400_000, 50),
    executionRetentionDays: int('EXECUTION_RETENTION_DAYS', 30, 0, 36_500),
    selfUpdateAckTimeoutMs: int('SELF_UPDATE_ACK_TIMEOUT_MS', 30_000, 10, 600_000),
    webhookAllowPrivateIps: bool('WEBHOOK_ALLOW_PRIVATE_IPS', false),
    webhookMaxAttempts: int('WEBHOOK_MAX_ATTEMPTS', 3, 1, 100),
    webhookRetryBaseMs: int('WEBHOOK_RETRY_BASE_MS', 15_000, 0, 86_400_000),
    webhookTimeoutMs: int('WEBHOOK_TIMEOUT_MS', 10_000, 1, 600_000),
    webhookConcurrency: int('WEBHOOK_CONCURRENCY', 8, 1, 1000),
    eventDeliveryMaxAgeSeconds: int('EVENT_DELIVERY_MAX_AGE_SECONDS', 3600, 0),
    eventBrokerUrl,
    eventRetentionDays: int('EVENT_RETENTION_DAYS', 30, 0, 36_500),
    eventPruningIntervalMs: int('EVENT_PRUNING_INTERVAL_MS', 3_600_000, 50),
    failedVerifyEventWindowMs: int('FAILED_VERIFY_EVENT_WINDOW_MS', 60_000, 50, 86_400_000),
    auditRefusalsPerAddress: int('AUDIT_REFUSALS_PER_ADDRESS', 20, 0, 1_000_000),
    auditRefusalsWindowMs: int('AUDIT_REFUSALS_WINDOW_MS', 60_000, 50, 86_400_000),
    rateLimitPublicMax: int('RATE_LIMIT_PUBLIC_MAX', 600),
    rateLimitPublicWindowMs: int('RATE_LIMIT_PUBLIC_WINDOW_MS', 60_000, 100, 86_400_000),
    rateLimitSubscriptionMax: int('RATE_LIMIT_SUBSCRIPTION_MAX', 120),
    trustProxy: trustProxy(read('TRUST_PROXY')),
    publicBodyLimitBytes: int('PUBLIC_BODY_LIMIT_BYTES', 16 * 1024, 1024, 1024 * 1024),
    importBodyLimitBytes: int('IMPORT_BODY_LIMIT_BYTES', 64 * 1024 * 1024, 1024),
    httpHeadersTimeoutMs: headersTimeoutMs,
    httpRequestTimeoutMs: requestTimeoutMs,
    httpKeepAliveTimeoutMs: int('HTTP_KEEPALIVE_TIMEOUT_MS', 72_000, 100, 3_600_000),
    managerPort: read('MANAGER_PORT')?.toLowerCase() === 'off' ? null : int('MANAGER_PORT', 8443, 0, 65535),
    managerHost: read('MANAGER_HOST') ?? host,
    managerTlsCertFile,
    managerTlsKeyFile,
    managerAuthTimeoutMs: int('MANAGER_AUTH_TIMEOUT_MS', 10_000, 50, 600_000),
    managerCommandTimeoutMs: int('MANAGER_COMMAND_TIMEOUT_MS', 10_000, 50, 600_000),
    managerStatsSampleMs: int('MANAGER_STATS_SAMPLE_MS', 60_000, 50, 86_400_000),
  });
}

/** Unset/false: the socket's peer is the client; true: trust every X-Forwarded-For hop; n: n hops; else proxy addresses/CIDRs. */
function trustProxy(raw: string | undefined): boolean | number | string[] {
  if (raw === undefined || /^(0|false|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.some((entry) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry))) {
    throw new ConfigError(`TRUST_PROXY must be true, false, a hop count or a list of addresses/CIDRs, got "${raw}"`);
  }
  return list;
}

/**
 * ADMIN_URLS when set, else the URL this instance listens on. Listening on every interface, the
 * URL names the machine's first non-loopback IPv4 (else its hostname): enrollment keys carry it
 * to agents on other machines, for which 127.0.0.1 is themselves.
 */
export function effectiveAdminUrls(config: Config, listeningPort: number, machine: Machine = localMachine()): string[] {
  if (config.adminUrls) return config.adminUrls;
  const scheme = config.tlsCertFile ? 'https' : 'http';
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = wildcard ? primaryAddress(machine) : config.host;
  return [`${scheme}://${host.includes(':') ? `[${host}]` : host}:${listeningPort}`];
}

export interface Machine {
  interfaces: ReturnType<typeof networkInterfaces>;
  hostname: string;
}

const localMachine = (): Machine => ({ interfaces: networkInterfaces(), hostname: hostname() });

function primaryAddress(machine: Machine): string {
  for (const list of Object.values(machine.interfaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return machine.hostname || '127.0.0.1';
}

/** The admin URLs that only this machine can reach (agents elsewhere would talk to themselves). */
export function loopbackUrls(urls: string[]): string[] {
  return urls.filter((url) => {
    let host: string;
    try {
      host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      return false;
    }
    return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1' || host === '0.0.0.0';
  });
}
