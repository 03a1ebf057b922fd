/**
 * Orchestration (edge-admin spec §6.4–6.5): identity → saved state or key verification →
 * (re-)registration → live stream + timers. Health goes over the stream while it is open and over
 * `PATCH …/health_check` while it is not; metrics are pushed over HTTP on their own cadence either way.
 * A 401 anywhere means the token is gone (another registration rotated it, or the node was deleted
 * and must be re-created): re-register with the stored identity. A 4xx on registration is fatal.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AgentMetrics } from './agent-metrics.ts';
import { ApiClient, ApiError, type HealthStatus } from './api-client.ts';
import { Backoff, type BackoffOptions } from '../shared/backoff.ts';
import type { AgentConfig } from '../shared/config.ts';
import { collectHostMetrics } from '../shared/host-metrics.ts';
import { IDENTITY_FILE, type Identity, MACHINE_ID_SOURCES, resolveIdentity } from '../shared/identity.ts';
import { type AgentState, ensureDataDir, loadState, saveState, statePath } from '../shared/state.ts';
import { type SocketFactory, StreamClient, type StreamClientOptions, type WelcomeFrame } from './stream.ts';
import { type AgentFeature, type AgentRuntime, createFeatures } from './features.ts';

/** Ends the agent with a message meant for the operator; exit status non-zero. */
export class AgentFatalError extends Error {
  override name = 'AgentFatalError';
}

class StoppedError extends Error {}

export interface AgentDeps {
  logger: Logger;
  fetch?: typeof fetch;
  createSocket?: SocketFactory;
  /** Test knobs for the stream (backoff, ping interval, clock). */
  stream?: Partial<Omit<StreamClientOptions, 'baseUrl' | 'token' | 'logger' | 'createSocket'>>;
  machineIdSources?: readonly string[];
  /** The node's own verdict; later features (services, disk) plug in here. */
  healthStatus?: () => HealthStatus;
  /** What the agent runs besides presence and metrics (default: createFeatures()). */
  features?: AgentFeature[];
  /** Backoff for retrying enrollment/registration while the server is unreachable (1 s → 30 s). */
  retry?: BackoffOptions;
  /**
   * Re-registrations closer than this (5 s) are spaced out: a server that rejects every fresh token
   * must not be hammered in a loop.
   */
  minReregisterGapMs?: number;
}

const VERIFY_ERRORS: Record<string, string> = {
  invalid_key: 'the server does not know this key (mistyped, deleted, or issued by another server)',
  key_expired: 'the key has expired',
  key_spent: 'the key has no uses left',
  node_limit_reached: "the key's cluster has reached its node limit",
};

export class Agent {
  readonly metrics = new AgentMetrics();
  /** Server frames by type (welcome, execution, cancel_execution, self_update): plug handlers in here. */
  readonly stream: StreamClient;
  /** Lifecycle notices for tests and later features: 'registered' (state). */
  readonly events = new EventEmitter<{ registered: [AgentState] }>();
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (error: Error) => void;
  private identity: Identity | null = null;
  private state: AgentState | null = null;
  private api: ApiClient | null = null;
  private baseUrl = '';
  private healthTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  private serverHealthIntervalMs: number | null = null;
  private reregistering: Promise<void> | null = null;
  private lastRegisteredAt = 0;
  private stopping: Promise<void> | null = null;
  private readonly features: AgentFeature[];

  constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.log = deps.logger;
    this.features = deps.features ?? createFeatures();
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
    this.stream = new StreamClient({
      ...deps.stream,
      baseUrl: () => this.baseUrl,
      token: () => this.state?.api_token ?? null,
      logger: this.log,
      createSocket: deps.createSocket,
    });
    this.stream.on('welcome', (frame) => this.onWelcome(frame));
    this.stream.on('unauthorized', (token) => this.onUnauthorized(token, 'stream upgrade refused with 401'));
    this.stream.on('close', ({ wasOpen }) => {
      if (!wasOpen || this.stopping) return;
      this.serverHealthIntervalMs = null;
      this.scheduleHealth(this.config.healthIntervalMs);
    });
  }

  get nodeId(): string | null {
    return this.identity?.node_id ?? null;
  }

  get registration(): AgentState | null {
    return this.state;
  }

  /** Resolves after stop(); rejects with AgentFatalError when the agent cannot go on. */
  async run(): Promise<void> {
    try {
      await this.bootstrap();
    } catch (error) {
      if (error instanceof StoppedError || this.stopping) return this.done;
      await this.stop();
      throw error;
    }
    if (this.stopping) return this.done;
    await this.startFeatures();
    if (this.stopping) return this.done;
    this.stream.start();
    this.scheduleHealth(this.config.healthIntervalMs);
    this.scheduleMetrics(0);
    return this.done;
  }

  stop(): Promise<void> {
    return this.shutdown(null);
  }

  private fail(error: Error): Promise<void> {
    this.log.error({ err: error.message }, 'agent cannot continue');
    return this.shutdown(error);
  }

  /** Idempotent; the first caller decides whether run() resolves or rejects. */
  private shutdown(error: Error | null): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      if (this.healthTimer) clearTimeout(this.healthTimer);
      if (this.metricsTimer) clearTimeout(this.metricsTimer);
      for (const feature of this.features.slice().reverse()) {
        await feature.stop().catch((err) => this.log.error({ err, feature: feature.name }, 'feature failed to stop'));
      }
      await this.stream.stop();
      this.log.info('agent stopped');
      if (error) this.rejectDone(error);
      else this.resolveDone();
    })();
    return this.stopping;
  }

  private async startFeatures(): Promise<void> {
    const runtime: AgentRuntime = {
      config: this.config,
      log: this.log,
      metrics: this.metrics,
      stream: this.stream,
      api: this.api!,
      nodeId: this.identity!.node_id,
      signal: this.abort.signal,
    };
    for (const feature of this.features) {
      try {
        await feature.start(runtime);
      } catch (error) {
        // A feature that cannot start (say, its port is taken) must not take the agent down.
        this.log.error({ err: error, feature: feature.name }, 'feature failed to start');
      }
    }
  }

  private async bootstrap(): Promise<void> {
    const { config } = this;
    await ensureDataDir(config.dataDir);
    const identity = await resolveIdentity({ dataDir: config.dataDir, override: config.nodeIdOverride, sources: this.deps.machineIdSources });
    this.identity = identity;
    this.log.info({ node_id: identity.node_id, id_type: identity.id_type, data_dir: config.dataDir }, 'agent identity');

    let state = await loadState(config.dataDir);
    if (state && state.node_id !== identity.node_id) {
      this.log.warn({ saved: state.node_id, node_id: identity.node_id }, 'saved state belongs to another node id; enrolling afresh');
      state = null;
    }
    const baseUrl = config.serverUrl ?? state?.admin_urls[0] ?? config.enrollmentAdminUrls?.[0];
    if (!baseUrl) {
      throw new AgentFatalError('no control plane URL: pass --server <url> (or NODEPLANE_SERVER_URL); the enrollment key and saved state name none');
    }
    this.baseUrl = baseUrl;
    this.api = new ApiClient({ baseUrl, signal: this.abort.signal, fetch: this.deps.fetch, userAgent: `nodeplane-agent/${config.version}` });

    if (!state) {
      state = await this.enroll(identity);
    } else if (config.enrollmentKey) {
      this.log.info({ state: statePath(config.dataDir) }, 'already enrolled; the enrollment key is not used again');
    }
    this.state = state;
    await this.register('start');
  }

  private async enroll(identity: Identity): Promise<AgentState> {
    const { config } = this;
    if (!config.enrollmentKey) {
      throw new AgentFatalError(`not enrolled yet (no ${statePath(config.dataDir)}): pass --enrollment-key <blob> or set NODEPLANE_ENROLLMENT_KEY`);
    }
    const key = config.enrollmentKey;
    const result = await this.retrying('enrollment key verification', () => this.api!.verifyEnrollmentKey(key)).catch((error) => {
      throw error instanceof ApiError ? new AgentFatalError(`enrollment key verification failed at ${this.baseUrl}: ${error.describe()}`) : error;
    });
    if (!result.verified) {
      const code = result.error || 'not_verified';
      throw new AgentFatalError(`enrollment key rejected by ${this.baseUrl}: ${code}${VERIFY_ERRORS[code] ? ` (${VERIFY_ERRORS[code]})` : ''}`);
    }
    const cluster = result.cluster_name ?? config.clusterName;
    if (!cluster) {
      throw new AgentFatalError('the server verified the key but its answer names no cluster (data.cluster_name); pass --cluster <name> for this server');
    }
    if (result.cluster_name && config.clusterName && result.cluster_name !== config.clusterName) {
      this.log.warn({ server: result.cluster_name, flag: config.clusterName }, "the key's cluster differs from --cluster; using the server's");
    }
    this.log.info({ cluster, vpn_join_token: result.netmaker_key !== '' }, 'enrollment key verified');
    const state: AgentState = {
      node_id: identity.node_id,
      network_name: `cluster-${cluster}`,
      admin_urls: config.enrollmentAdminUrls?.length ? [...config.enrollmentAdminUrls] : [this.baseUrl],
      api_token: null,
      proxy_password: null,
      derp_map_url: null,
      join_ticket: result.netmaker_key || null,
    };
    // Saved before registering: the key use is spent, so a crash from here on must not verify again.
    await saveState(config.dataDir, state);
    return state;
  }

  private async register(reason: string): Promise<void> {
    const { config } = this;
    const identity = this.identity!;
    const current = this.state!;
    const body = {
      node_id: identity.node_id,
      network_name: current.network_name,
      id_type: identity.id_type,
      http_port: config.ports.http,
      ssh_port: config.ports.ssh,
      host_metrics_port: config.ports.hostMetrics,
      wireguard_metrics_port: config.ports.wireguardMetrics,
      http_proxy_port: config.ports.httpProxy,
      socks5_proxy_port: config.ports.socks5Proxy,
      version: config.version,
      self_update_enabled: config.selfUpdateEnabled,
    };
    const credential = current.api_token ?? current.join_ticket;
    let result;
    try {
      result = await this.retrying('registration', () => this.api!.register(body, credential));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        throw new AgentFatalError(
          `registration refused by ${this.baseUrl} (401): it accepts neither this node's saved api_token nor a join ticket ` +
            `(node deleted, or its token taken over by another registration); move ${statePath(config.dataDir)} away and enroll again with a new key`,
        );
      }
      if (error instanceof ApiError && error.status === 409 && error.message.includes(identity.node_id)) {
        throw new AgentFatalError(`registration refused by ${this.baseUrl}: ${error.message}. ${this.identityOrigin()}`);
      }
      if (error instanceof ApiError) {
        throw new AgentFatalError(`registration rejected by ${this.baseUrl}: ${error.describe()}`);
      }
      throw error;
    }
    if (result.node_id !== identity.node_id) {
      this.log.warn({ node_id: identity.node_id, server: result.node_id }, 'server registered a different node id');
    }
    const next: AgentState = {
      ...current,
      api_token: result.api_token,
      proxy_password: result.proxy_password,
      admin_urls: result.admin_urls.length ? result.admin_urls : current.admin_urls,
      derp_map_url: result.derp_map_url,
      join_ticket: null,
    };
    await saveState(config.dataDir, next);
    this.state = next;
    this.api!.setToken(next.api_token);
    this.lastRegisteredAt = Date.now();
    this.log.info({ node_id: identity.node_id, network_name: next.network_name, version: config.version, reason }, 'registered');
    this.events.emit('registered', next);
  }

  /** Where this machine's node id came from, so a clone knows exactly what to change. */
  private identityOrigin(): string {
    const { config } = this;
    const identity = this.identity!;
    const file = path.join(config.dataDir, IDENTITY_FILE);
    if (config.nodeIdOverride) return `Here the id ${identity.node_id} is set by NODEPLANE_AGENT_NODE_ID: set a new UUID there.`;
    const origin =
      identity.id_type === 'persistent'
        ? `was derived from this host's machine id (${MACHINE_ID_SOURCES[0]}) and saved in ${file}`
        : `is a random id saved in ${file} (copied along with the data dir)`;
    return `Here the id ${identity.node_id} ${origin}: regenerate the machine id (e.g. rm /etc/machine-id && systemd-machine-id-setup) and remove ${file} and ${statePath(config.dataDir)}, or start the agent with NODEPLANE_AGENT_NODE_ID=<new uuid>.`;
  }

  /** Single-flight: concurrent 401s (stream + HTTP) lead to one registration. */
  private reregister(reason: string): Promise<void> {
    if (this.stopping || !this.state) return Promise.resolve();
    this.reregistering ??= (async () => {
      const wait = this.lastRegisteredAt + (this.deps.minReregisterGapMs ?? 5_000) - Date.now();
      if (wait > 0) await this.sleep(wait);
      this.log.warn({ reason }, 'api_token rejected; registering again');
      await this.register(reason);
      this.stream.restart();
    })()
      .catch((error) => {
        if (error instanceof StoppedError || this.stopping) return;
        return this.fail(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.reregistering = null;
      });
    return this.reregistering;
  }

  /** Retries transient failures (no answer, 408/429/5xx, degraded) until success or stop. */
  private async retrying<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, ...this.deps.retry });
    for (;;) {
      if (this.stopping) throw new StoppedError();
      try {
        return await fn();
      } catch (error) {
        if (this.stopping) throw new StoppedError();
        if (!(error instanceof ApiError) || !error.transient) throw error;
        const delayMs = backoff.next();
        this.log.warn({ err: error.describe(), retryInMs: delayMs }, `${label} failed; retrying`);
        await this.sleep(delayMs);
      }
    }
  }

  private async sleep(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      throw new StoppedError();
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    if (frame.node_id !== this.identity?.node_id) {
      this.log.warn({ node_id: this.identity?.node_id, welcome: frame.node_id }, 'stream welcome names another node');
    }
    this.serverHealthIntervalMs = frame.health_interval_ms ? Math.max(1_000, frame.health_interval_ms) : null;
    this.log.info({ health_interval_ms: this.currentHealthInterval() }, 'stream welcome');
    this.scheduleHealth(0);
  }

  private currentHealthInterval(): number {
    return this.stream.isOpen && this.serverHealthIntervalMs ? this.serverHealthIntervalMs : this.config.healthIntervalMs;
  }

  private scheduleHealth(delayMs: number): void {
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.healthTimer = null;
    if (this.stopping) return;
    this.healthTimer = setTimeout(() => void this.healthTick(), delayMs);
  }

  private async healthTick(): Promise<void> {
    this.healthTimer = null;
    const status = this.deps.healthStatus?.() ?? 'healthy';
    if (!this.stream.send({ type: 'health', status })) {
      const token = this.state?.api_token ?? null;
      try {
        await this.api!.reportHealth(status);
        this.metrics.healthReports.inc();
        this.log.debug({ status }, 'health reported over HTTP');
      } catch (error) {
        this.onCallError('health report', error, token);
      }
    }
    // A welcome may have rescheduled meanwhile; that timer wins.
    if (!this.healthTimer) this.scheduleHealth(this.currentHealthInterval());
  }

  private scheduleMetrics(delayMs: number): void {
    if (this.stopping) return;
    this.metricsTimer = setTimeout(() => void this.metricsTick(), delayMs);
  }

  private async metricsTick(): Promise<void> {
    const token = this.state?.api_token ?? null;
    try {
      await this.api!.pushMetrics('host', await collectHostMetrics());
      await this.api!.pushMetrics('agent', await this.metrics.text());
      this.log.debug('metrics pushed');
    } catch (error) {
      this.onCallError('metrics push', error, token);
    }
    this.scheduleMetrics(this.config.metricsIntervalMs);
  }

  /** A 401 for a token that a re-registration has already replaced is old news, not a new loss. */
  private onUnauthorized(token: string | null, reason: string): void {
    if (token !== null && token !== this.state?.api_token) return;
    void this.reregister(reason);
  }

  private onCallError(what: string, error: unknown, token: string | null): void {
    if (this.stopping) return;
    if (error instanceof ApiError && error.status === 401) {
      this.onUnauthorized(token, `${what} got 401`);
      return;
    }
    const message = error instanceof ApiError ? error.describe() : (error as Error).message;
    const transient = error instanceof ApiError && error.transient;
    this.log[transient ? 'warn' : 'error']({ err: message }, `${what} failed`);
  }
}
