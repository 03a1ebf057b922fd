import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeEnrollmentKey, EnrollmentKeyError, isHttpUrl, stripTrailingSlash } from './enrollment-key.ts';

/** The agent's only reader of process.env and argv. Everything else receives a frozen AgentConfig. */
export interface AgentConfig {
  /** Explicit --server / NODEPLANE_SERVER_URL; null means "use the saved or the key's admin_urls". */
  serverUrl: string | null;
  enrollmentKey: string | null;
  /** admin_urls decoded from the enrollment key; null when no key was given or it does not decode. */
  enrollmentAdminUrls: string[] | null;
  /** Fallback cluster name for servers whose verify answer lacks `cluster_name`. */
  clusterName: string | null;
  dataDir: string;
  nodeIdOverride: string | null;
  healthIntervalMs: number;
  metricsIntervalMs: number;
  version: string;
  ports: AgentPorts;
  selfUpdateEnabled: boolean;
  /** Shell command that installs the new agent version (run with /bin/sh -c); null = cannot update. */
  updateCommand: string | null;
  /** How often to look for self-update requests over HTTP while the stream is down (2 h). */
  selfUpdateCheckIntervalMs: number;
  /** Execution polling over HTTP while the stream is down (the spec's fallback cadence, 2 min). */
  executionPollIntervalMs: number;
  /** Stored output of one command is capped at this many bytes (the tail is kept). */
  outputLimitBytes: number;
  sshEnabled: boolean;
  sshHost: string;
  logLevel: string;
  /** The Core protocol role (`--core-server`); null when not configured. */
  core: CoreRoleConfig | null;
}

/** `nodeplane agent --core-server <url> --code <code>`: a VPN node of a Core panel (src/agent/core/). */
export interface CoreRoleConfig {
  serverUrl: string;
  /** Registration code; needed for the first start, and to register again after a 401. */
  code: string | null;
  /** null = detected from `<binary> -version` at the first start. */
  flavour: 'xray' | 'v2ray' | null;
  binary: string;
  nodeName: string;
  nodeHost: string;
  nodeIp: string;
  nodeRegion: string;
  heartbeatIntervalMs: number;
  statsIntervalMs: number;
  usagePushIntervalMs: number;
  /** Traffic-derived sessions end after this long without bytes. */
  offlineAfterMs: number;
  telemtBinary: string | null;
}

export interface AgentPorts {
  http: number;
  ssh: number;
  hostMetrics: number;
  wireguardMetrics: number;
  httpProxy: number;
  socks5Proxy: number;
}

export class ConfigError extends Error {}

export const USAGE = `usage: nodeplane agent [options]

Enrolls this machine with a Nodeplane control plane, registers it and keeps it connected.
The first start needs an enrollment key; later starts reuse <data-dir>/state.json.

options (each has an environment equivalent; flags win):
  --server <url>           control plane URL              NODEPLANE_SERVER_URL
                           (optional when the key's admin_urls or saved state give one)
  --enrollment-key <blob>  enrollment key, first start    NODEPLANE_ENROLLMENT_KEY
  --data-dir <dir>         state directory                NODEPLANE_AGENT_DATA_DIR (./agent-data)
  --cluster <name>         cluster, only for servers whose key verification does not
                           return cluster_name            NODEPLANE_AGENT_CLUSTER
  -h, --help               print this help

environment:
  NODEPLANE_AGENT_NODE_ID                 fixed node id (UUID; id_type "random")
  NODEPLANE_AGENT_HEALTH_INTERVAL_MS      health report interval (30000)
  NODEPLANE_AGENT_METRICS_INTERVAL_MS     metrics push interval (60000)
  NODEPLANE_AGENT_VERSION                 version reported at registration (package version)
  NODEPLANE_AGENT_SELF_UPDATE_ENABLED     accept self-update requests (false)
  NODEPLANE_AGENT_UPDATE_COMMAND          shell command that installs a new version (unset)
  NODEPLANE_AGENT_SELF_UPDATE_CHECK_INTERVAL_MS  HTTP self-update check while offline (7200000)
  NODEPLANE_AGENT_POLL_INTERVAL_MS        HTTP execution polling while offline (120000)
  NODEPLANE_AGENT_OUTPUT_LIMIT_BYTES      stored output per command, tail kept (1048576)
  NODEPLANE_AGENT_SSH_ENABLED             run the embedded SSH server (true)
  NODEPLANE_AGENT_SSH_HOST                SSH listen address (0.0.0.0)
  NODEPLANE_AGENT_SSH_PORT                SSH port (40022): the only port the agent listens on
  NODEPLANE_AGENT_LOG_LEVEL               pino level (info)

Core role (a VPN node of a Core panel; runs when --core-server is given, beside the edge role
when that is configured too; the proxy core it starts listens on the inbound ports the panel sets):
  --core-server <url>      Core panel URL                 NODEPLANE_CORE_SERVER_URL
  --code <code>            registration code              NODEPLANE_CORE_CODE
                           (first start; later starts reuse <data-dir>/core/state.json)
  --core-flavour <f>       xray | v2ray                   NODEPLANE_CORE_FLAVOUR
                           (default: read from "<binary> -version")
  --core-binary <path>     proxy core binary              NODEPLANE_CORE_BINARY
                           (xray, else v2ray, on PATH; v2ray: /usr/bin/v2ray)
  NODEPLANE_CORE_NODE_NAME / _HOST / _IP / _REGION   registration details (hostname, hostname,
                                          first non-loopback IPv4, empty)
  NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS    heartbeat interval (15000)
  NODEPLANE_CORE_STATS_INTERVAL_MS        core stats read interval (10000)
  NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS   usage push interval (60000)
  NODEPLANE_CORE_OFFLINE_AFTER_MS         no traffic for this long = offline (120000)
  NODEPLANE_TELEMT_BINARY                 telemt binary for services.mtproto (unset = config only)
`;

type Env = Record<string, string | undefined>;

const FLAGS: Record<string, string> = {
  '--server': 'NODEPLANE_SERVER_URL',
  '--enrollment-key': 'NODEPLANE_ENROLLMENT_KEY',
  '--data-dir': 'NODEPLANE_AGENT_DATA_DIR',
  '--cluster': 'NODEPLANE_AGENT_CLUSTER',
  '--core-server': 'NODEPLANE_CORE_SERVER_URL',
  '--code': 'NODEPLANE_CORE_CODE',
  '--core-flavour': 'NODEPLANE_CORE_FLAVOUR',
  '--core-binary': 'NODEPLANE_CORE_BINARY',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A mistake in the command line itself (exit 2), as opposed to a bad setting (exit 1). */
export class UsageError extends ConfigError {
  readonly exitCode = 2;
}

/** Flags are folded into the env map under their env names, so each setting has one parse path. */
function parseFlags(args: string[]): { help: boolean; values: Env } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag.slice(2), { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(`nodeplane agent: ${(error as Error).message} (see nodeplane agent --help)`);
  }
  const values: Env = {};
  for (const [flag, name] of Object.entries(FLAGS)) {
    const value = (parsed.values as Record<string, string | boolean | undefined>)[flag.slice(2)];
    if (typeof value === 'string') values[name] = value;
  }
  return { help: parsed.values.help === true, values };
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Returns 'help' when usage was asked for; throws ConfigError with a precise message otherwise. */
export function loadAgentConfig(args: string[], env: Env = process.env, cwd = process.cwd()): AgentConfig | 'help' {
  const { help, values } = parseFlags(args);
  if (help) return 'help';
  const merged: Env = { ...env, ...values };
  const read = (name: string): string | undefined => {
    const value = merged[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return value;
  };
  const port = (name: string, fallback: number) => int(name, fallback, 1, 65535);
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  };

  const serverRaw = read('NODEPLANE_SERVER_URL');
  if (serverRaw !== undefined && !isHttpUrl(serverRaw)) {
    throw new ConfigError(`--server / NODEPLANE_SERVER_URL must be an http(s) URL, got "${serverRaw}"`);
  }
  const serverUrl = serverRaw === undefined ? null : stripTrailingSlash(serverRaw);

  const enrollmentKey = read('NODEPLANE_ENROLLMENT_KEY') ?? null;
  let enrollmentAdminUrls: string[] | null = null;
  if (enrollmentKey !== null) {
    try {
      enrollmentAdminUrls = decodeEnrollmentKey(enrollmentKey).adminUrls;
    } catch (error) {
      // With an explicit server the blob is opaque to us: the server's verify answer is the judge.
      if (!(error instanceof EnrollmentKeyError) || serverUrl === null) {
        throw new ConfigError(`${(error as Error).message}; pass the key exactly as the server issued it, or give --server`);
      }
    }
  }

  const nodeIdOverride = read('NODEPLANE_AGENT_NODE_ID')?.toLowerCase() ?? null;
  if (nodeIdOverride !== null && !UUID.test(nodeIdOverride)) {
    throw new ConfigError(`NODEPLANE_AGENT_NODE_ID must be a UUID, got "${nodeIdOverride}"`);
  }
  const clusterName = read('NODEPLANE_AGENT_CLUSTER') ?? null;
  if (clusterName !== null && (!CLUSTER_NAME.test(clusterName) || clusterName.length > 24)) {
    throw new ConfigError(`--cluster / NODEPLANE_AGENT_CLUSTER must be a cluster name (DNS label, ≤24 chars), got "${clusterName}"`);
  }

  return Object.freeze({
    serverUrl,
    enrollmentKey,
    enrollmentAdminUrls: enrollmentAdminUrls ? (Object.freeze(enrollmentAdminUrls) as string[]) : null,
    clusterName,
    dataDir: path.resolve(cwd, read('NODEPLANE_AGENT_DATA_DIR') ?? './agent-data'),
    nodeIdOverride,
    healthIntervalMs: int('NODEPLANE_AGENT_HEALTH_INTERVAL_MS', 30_000, 100, 86_400_000),
    metricsIntervalMs: int('NODEPLANE_AGENT_METRICS_INTERVAL_MS', 60_000, 100, 86_400_000),
    version: read('NODEPLANE_AGENT_VERSION') ?? packageVersion(),
    ports: Object.freeze({
      http: port('NODEPLANE_AGENT_HTTP_PORT', 44000),
      ssh: port('NODEPLANE_AGENT_SSH_PORT', 40022),
      hostMetrics: port('NODEPLANE_AGENT_HOST_METRICS_PORT', 49100),
      wireguardMetrics: port('NODEPLANE_AGENT_WIREGUARD_METRICS_PORT', 49586),
      httpProxy: port('NODEPLANE_AGENT_HTTP_PROXY_PORT', 43128),
      socks5Proxy: port('NODEPLANE_AGENT_SOCKS5_PORT', 41080),
    }),
    selfUpdateEnabled: bool('NODEPLANE_AGENT_SELF_UPDATE_ENABLED', false),
    updateCommand: read('NODEPLANE_AGENT_UPDATE_COMMAND') ?? null,
    selfUpdateCheckIntervalMs: int('NODEPLANE_AGENT_SELF_UPDATE_CHECK_INTERVAL_MS', 7_200_000, 100, 604_800_000),
    executionPollIntervalMs: int('NODEPLANE_AGENT_POLL_INTERVAL_MS', 120_000, 100, 86_400_000),
    outputLimitBytes: int('NODEPLANE_AGENT_OUTPUT_LIMIT_BYTES', 1_048_576, 1024, 64 * 1_048_576),
    sshEnabled: bool('NODEPLANE_AGENT_SSH_ENABLED', true),
    sshHost: read('NODEPLANE_AGENT_SSH_HOST') ?? '0.0.0.0',
    logLevel: read('NODEPLANE_AGENT_LOG_LEVEL') ?? 'info',
    core: loadCoreRole(read, int),
  });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function loadCoreRole(
  read: (name: string) => string | undefined,
  int: (name: string, fallback: number, min: number, max: number) => number,
): CoreRoleConfig | null {
  const serverRaw = read('NODEPLANE_CORE_SERVER_URL');
  if (serverRaw === undefined) {
    if (read('NODEPLANE_CORE_CODE') !== undefined) throw new ConfigError('--code / NODEPLANE_CORE_CODE needs --core-server / NODEPLANE_CORE_SERVER_URL');
    return null;
  }
  if (!isHttpUrl(serverRaw)) throw new ConfigError(`--core-server / NODEPLANE_CORE_SERVER_URL must be an http(s) URL, got "${serverRaw}"`);
  const flavour = read('NODEPLANE_CORE_FLAVOUR') ?? null;
  if (flavour !== null && flavour !== 'xray' && flavour !== 'v2ray')
    throw new ConfigError(`--core-flavour / NODEPLANE_CORE_FLAVOUR must be xray or v2ray, got "${flavour}"`);
  const ip = read('NODEPLANE_CORE_NODE_IP') ?? defaultIp();
  if (!IPV4.test(ip) && !/^[0-9a-f:.]*:[0-9a-f:.]*$/i.test(ip)) throw new ConfigError(`NODEPLANE_CORE_NODE_IP must be an IP address, got "${ip}"`);
  const host = hostname() || 'localhost';
  return Object.freeze({
    serverUrl: stripTrailingSlash(serverRaw),
    code: read('NODEPLANE_CORE_CODE') ?? null,
    flavour,
    binary: read('NODEPLANE_CORE_BINARY') ?? defaultCoreBinary(flavour, read('PATH')),
    nodeName: read('NODEPLANE_CORE_NODE_NAME') ?? host,
    nodeHost: read('NODEPLANE_CORE_NODE_HOST') ?? host,
    nodeIp: ip,
    nodeRegion: read('NODEPLANE_CORE_NODE_REGION') ?? '',
    heartbeatIntervalMs: int('NODEPLANE_CORE_HEARTBEAT_INTERVAL_MS', 15_000, 100, 86_400_000),
    statsIntervalMs: int('NODEPLANE_CORE_STATS_INTERVAL_MS', 10_000, 100, 3_600_000),
    usagePushIntervalMs: int('NODEPLANE_CORE_USAGE_PUSH_INTERVAL_MS', 60_000, 100, 86_400_000),
    offlineAfterMs: int('NODEPLANE_CORE_OFFLINE_AFTER_MS', 120_000, 1_000, 86_400_000),
    telemtBinary: read('NODEPLANE_TELEMT_BINARY') ?? null,
  });
}

/** The first non-internal IPv4 (what a node would register as), else loopback. */
function defaultIp(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Told the flavour: its usual binary. Not told: whichever of xray, v2ray is on PATH (xray first). */
function defaultCoreBinary(flavour: 'xray' | 'v2ray' | null, searchPath: string | undefined): string {
  if (flavour === 'v2ray') return onPath('v2ray', searchPath) ?? '/usr/bin/v2ray';
  if (flavour === 'xray') return onPath('xray', searchPath) ?? 'xray';
  return onPath('xray', searchPath) ?? onPath('v2ray', searchPath) ?? 'xray';
}

function onPath(binary: string, searchPath: string | undefined): string | null {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, binary);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}
