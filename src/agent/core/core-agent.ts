/**
 * The Core protocol role (`nodeplane agent --core-server <url> --code <code>`; specs/core-node.md §4):
 *
 * register (once; `{authKey, nodeId}` kept in `<dataDir>/core/state.json`, 0600) → start the core
 * with the last applied config (`applied.json`) → heartbeat `{ip, revision}` every interval →
 * on `needSync` GET config/latest (If-None-Match with the ETag of the config held) → apply
 * `services.xray` through the controller and `services.mtproto` through telemt → POST
 * config/applied `{revision}` or /node/error. Usage: the accountant polls the core into the
 * journal; every push interval the journal is sealed and pushed in order with Idempotency-Keys.
 *
 * Failures: a core crash is reported to /node/error and, once the controller has it running
 * again, config/applied is re-sent (that clears the node's error state). A 401 means the key is
 * gone: with a code configured the agent registers again, without one it exits non-zero.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../shared/backoff.ts';
import type { CoreRoleConfig } from '../shared/config.ts';
import { readJsonFile, writeFileAtomic } from '../shared/state.ts';
import { type ClientMap, UsageAccountant } from './accountant.ts';
import { CoreBinaryError } from '../proxy-core/core-binary.ts';
import { type ApplyResult, CoreConfigError, CoreStartError, lastLines, ProxyCoreController } from '../proxy-core/controller.ts';
import { type FlushResult, type JournalItem, PermanentPushError, PushJournal } from './journal.ts';
import { type NodeConfig, NodeApiError, NodeClient } from './node-client.ts';
import { closedInbounds, skippedInbounds, type UnservedInbound } from '../proxy-core/serving.ts';
import { TelemtConfigError, TelemtManager } from './telemt.ts';

/** How long the server may hold a config/latest long-poll; well under common proxy idle timeouts. */
const CONFIG_WAIT_SECONDS = 25;

/** Ends the role with a message meant for the operator; the agent exits non-zero. */
export class AgentFatalError extends Error {
  override name = 'AgentFatalError';
}

interface CoreState {
  serverUrl: string;
  authKey: string;
  nodeId: number | string;
  registeredAt: string;
}

interface AppliedState {
  revision: number;
  etag: string | null;
  clientMap: ClientMap;
  services: NodeConfig['services'];
}

type Report = { kind: 'applied'; revision: number } | { kind: 'error'; body: { message: string; code: string; details: Record<string, unknown> } };

export interface CoreAgentDeps {
  logger: Logger;
  fetch?: typeof fetch;
  /** Retrying registration while the server is unreachable (1 s → 30 s). */
  retry?: BackoffOptions;
  /** Core crash restarts (controller default 1 s → 60 s). */
  coreBackoff?: BackoffOptions;
  /** Pushes after a failure (1 s → the push interval). */
  pushBackoff?: BackoffOptions;
  /** A revision that failed is not applied again before this (5 min) unless its content changes. */
  retryFailedAfterMs?: number;
  version?: string;
}

type Events = {
  registered: [CoreState];
  applied: [number, ApplyResult];
  'apply-failed': [number, Error];
  pushed: [FlushResult];
  reported: [Report];
};

export class CoreAgent {
  readonly events = new EventEmitter<Events>();
  readonly controller: ProxyCoreController;
  readonly journal: PushJournal;
  readonly accountant: UsageAccountant;
  readonly telemt: TelemtManager;
  readonly dir: string;
  private readonly log: Logger;
  private readonly client: NodeClient;
  private readonly abort = new AbortController();
  private state: CoreState | null = null;
  private applied: AppliedState | null = null;
  /** The last config fetched (applied or not), for If-None-Match. */
  private fetched: { config: NodeConfig; etag: string | null } | null = null;
  private failed: { revision: number; hash: string; at: number } | null = null;
  /** Inbounds of the applied revision the core does not serve (dropped for its flavour, or not listening). */
  private unserved: UnservedInbound[] = [];
  private pendingReport: Report | null = null;
  private reporting: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private reregistering: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;
  private readonly pushBackoff: Backoff;
  private stopping: Promise<void> | null = null;
  private done!: { resolve: () => void; reject: (e: Error) => void };
  private readonly finished: Promise<void>;

  constructor(
    private readonly config: CoreRoleConfig,
    dataDir: string,
    private readonly deps: CoreAgentDeps,
  ) {
    this.log = deps.logger;
    this.dir = path.join(dataDir, 'core');
    this.client = new NodeClient({
      baseUrl: config.serverUrl,
      fetch: deps.fetch,
      signal: this.abort.signal,
      userAgent: `nodeplane-agent/${deps.version ?? '0'}`,
    });
    this.controller = new ProxyCoreController({ flavour: config.flavour, binary: config.binary, dir: this.dir, logger: this.log, backoff: deps.coreBackoff });
    this.journal = new PushJournal({ dir: path.join(this.dir, 'journal'), logger: this.log });
    this.accountant = new UsageAccountant({
      journal: this.journal,
      logger: this.log,
      stats: () => this.controller.stats,
      intervalMs: config.statsIntervalMs,
      offlineAfterMs: config.offlineAfterMs,
    });
    this.telemt = new TelemtManager({ dir: this.dir, binary: config.telemtBinary, logger: this.log });
    this.pushBackoff = new Backoff({ initialMs: 1_000, maxMs: Math.max(1_000, config.usagePushIntervalMs), ...deps.pushBackoff });
    this.finished = new Promise<void>((resolve, reject) => (this.done = { resolve, reject }));
    this.finished.catch(() => {});
  }

  get nodeId(): number | string | null {
    return this.state?.nodeId ?? null;
  }

  get appliedRevision(): number | null {
    return this.applied?.revision ?? null;
  }

  /** Resolves after stop(); rejects with AgentFatalError when the role cannot go on. */
  async run(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await this.bootstrap();
    } catch (error) {
      if (this.stopping) return this.finished;
      await this.shutdown(null);
      throw error;
    }
    return this.finished;
  }

  stop(): Promise<void> {
    return this.shutdown(null);
  }

  private async bootstrap(): Promise<void> {
    const saved = (await readJsonFile(path.join(this.dir, 'state.json'))) as CoreState | undefined;
    if (saved && typeof saved.authKey === 'string' && saved.serverUrl === this.config.serverUrl) {
      this.state = saved;
      this.client.authKey = saved.authKey;
      this.log.info({ nodeId: saved.nodeId, server: saved.serverUrl }, 'core role: using the saved auth key');
    } else {
      if (saved)
        this.log.warn({ saved: saved.serverUrl, server: this.config.serverUrl }, 'core role: the saved key belongs to another server; registering again');
      await this.register('first start');
    }

    await this.journal.open();
    this.applied = ((await readJsonFile(path.join(this.dir, 'applied.json'))) as AppliedState | undefined) ?? null;
    if (this.applied)
      this.fetched = {
        config: { revision: this.applied.revision, clientMap: this.applied.clientMap, services: this.applied.services },
        etag: this.applied.etag,
      };
    this.accountant.setAttribution(this.applied?.clientMap ?? {}, this.applied?.services.xray ?? null);
    this.controller.setBeforeStop((stats) => this.accountant.poll(stats));
    this.controller.on('exited', (e) => {
      this.report({
        kind: 'error',
        body: {
          message: `the ${this.controller.flavour ?? 'proxy'} core exited unexpectedly (${e.signal ?? `exit code ${e.code}`}) after ${Math.round(e.uptimeMs / 1000)} s; restarting it`,
          code: 'CORE_EXITED',
          details: { pid: e.pid, exitCode: e.code, signal: e.signal, uptimeMs: e.uptimeMs, output: lastLines(e.output, 5) },
        },
      });
    });
    this.controller.on('restart-failed', (e) => {
      this.report({
        kind: 'error',
        body: { message: `the core could not be restarted: ${e.error}`, code: 'CORE_RESTART_FAILED', details: { attempt: e.attempt, retryInMs: e.retryInMs } },
      });
    });
    this.controller.on('started', (e) => {
      if (e.reason === 'crash-restart' && this.applied) {
        this.log.info({ pid: e.pid }, 'core is running again; reporting the applied revision');
        this.reportOutcome(this.applied.revision);
      }
    });

    if (this.applied) {
      try {
        const started = await this.controller.start(this.applied.services.xray ?? null);
        await this.telemt.apply(this.applied.services.mtproto);
        this.unserved = [...skippedInbounds(started.warnings), ...(await closedInbounds(this.applied.services.xray ?? null, started.warnings))];
        this.reportOutcome(this.applied.revision);
      } catch (error) {
        this.log.error({ err: (error as Error).message }, 'the last applied config did not start');
        this.reportApplyError(this.applied.revision, error as Error);
      }
    } else {
      // Nothing applied yet: only an orphan core (from a crashed earlier run) needs handling.
      await this.controller.start(null);
    }
    if (this.stopping) return;
    this.accountant.start();
    this.scheduleHeartbeat(0);
    this.schedulePush(0);
    void this.watchConfig();
  }

  /**
   * Long-polls config/latest (`?wait=`, If-None-Match = the config held) so a change is applied about
   * a second after it is made rather than at the next heartbeat; the heartbeat stays the fallback. A
   * server that answers the 304 at once (no long-poll support) leaves the work to the heartbeat.
   */
  private async watchConfig(): Promise<void> {
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, ...this.deps.retry });
    const pause = (ms: number) => sleep(ms, undefined, { signal: this.abort.signal }).catch(() => {});
    while (!this.stopping) {
      const etag = this.fetched?.etag ?? null;
      if (!etag) {
        // The first sync (heartbeat-driven) has not fetched anything to compare with yet.
        await pause(1_000);
        continue;
      }
      const key = this.client.authKey;
      const started = Date.now();
      try {
        const answer = await this.client.latestConfig(etag, CONFIG_WAIT_SECONDS);
        backoff.reset();
        if (answer) {
          this.fetched = answer;
          await this.sync();
        } else if (Date.now() - started < 1_000) await pause(this.config.heartbeatIntervalMs);
      } catch (error) {
        if (this.stopping) return;
        this.onCallError('config long-poll', error, key);
        await pause(backoff.next());
      }
    }
  }

  private async register(reason: string): Promise<void> {
    const code = this.config.code;
    if (!code) {
      throw new AgentFatalError(
        `the core role is not registered with ${this.config.serverUrl}: pass --code <code> (or NODEPLANE_CORE_CODE) once; ` +
          `the auth key is then kept in ${path.join(this.dir, 'state.json')}`,
      );
    }
    const dto = { code, name: this.config.nodeName, host: this.config.nodeHost, ip: this.config.nodeIp, region: this.config.nodeRegion };
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, ...this.deps.retry });
    for (;;) {
      if (this.stopping) throw new AgentFatalError('stopped');
      try {
        const { authKey, nodeId } = await this.client.register(dto);
        this.state = { serverUrl: this.config.serverUrl, authKey, nodeId, registeredAt: new Date().toISOString() };
        await writeFileAtomic(path.join(this.dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
        this.client.authKey = authKey;
        this.log.info({ nodeId, reason }, 'core role registered');
        this.events.emit('registered', this.state);
        return;
      } catch (error) {
        if (!(error instanceof NodeApiError)) throw error;
        if (!error.transient || error.status === 409) {
          throw new AgentFatalError(`core registration refused by ${this.config.serverUrl}: ${error.message}`);
        }
        const delay = backoff.next();
        this.log.warn({ err: error.message, retryInMs: delay }, 'core registration failed; retrying');
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => {});
      }
    }
  }

  /** Single-flight; a 401 for a key already replaced is old news. */
  private onUnauthorized(keyUsed: string | null, what: string): void {
    if (this.stopping || keyUsed !== this.client.authKey) return;
    if (!this.config.code) {
      void this.fail(
        new AgentFatalError(
          `${what}: the server no longer accepts this node's auth key (401; node deleted or re-registered elsewhere). ` +
            `Set --code / NODEPLANE_CORE_CODE to register again, or remove ${path.join(this.dir, 'state.json')}`,
        ),
      );
      return;
    }
    this.reregistering ??= (async () => {
      this.log.warn({ what }, 'auth key rejected (401); registering again with the configured code');
      try {
        await this.register('auth key rejected');
        // A fresh registration starts a node at "needs sync": heartbeat now.
        this.scheduleHeartbeat(0);
      } catch (error) {
        await this.fail(error as Error);
      } finally {
        this.reregistering = null;
      }
    })();
  }

  private onCallError(what: string, error: unknown, keyUsed: string | null): void {
    if (error instanceof NodeApiError && error.status === 401) return this.onUnauthorized(keyUsed, what);
    this.log.warn({ err: (error as Error).message }, `${what} failed`);
  }

  private scheduleHeartbeat(delayMs: number): void {
    if (this.stopping) return;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => void this.heartbeatTick(), delayMs);
  }

  private async heartbeatTick(): Promise<void> {
    this.heartbeatTimer = null;
    const key = this.client.authKey;
    try {
      await this.sendPendingReport();
      const body: { ip?: string; revision?: number } = { ip: this.config.nodeIp };
      if (this.applied) body.revision = this.applied.revision;
      const { needSync } = await this.client.heartbeat(body);
      if (needSync) await this.sync();
    } catch (error) {
      this.onCallError('heartbeat', error, key);
    }
    if (!this.heartbeatTimer) this.scheduleHeartbeat(this.config.heartbeatIntervalMs);
  }

  /** Fetch config/latest and apply it; single-flight. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const answer = await this.client.latestConfig(this.fetched?.etag ?? null);
    const fetched = answer ?? this.fetched;
    if (!fetched) return;
    if (answer) this.fetched = answer;
    const { config, etag } = fetched;
    const hash = contentHash(config);
    if (this.applied && this.applied.revision === config.revision && contentHash(this.applied) === hash) {
      // Applied already; the server missed our report.
      this.reportOutcome(config.revision);
      await this.sendPendingReport();
      return;
    }
    if (
      this.failed &&
      this.failed.revision === config.revision &&
      this.failed.hash === hash &&
      Date.now() - this.failed.at < (this.deps.retryFailedAfterMs ?? 300_000)
    ) {
      return;
    }
    await this.apply(config, etag, hash);
  }

  private async apply(config: NodeConfig, etag: string | null, hash: string): Promise<void> {
    let result: ApplyResult;
    try {
      // Traffic so far belongs to the old attribution; read it before users change.
      await this.accountant.poll().catch((error) => this.log.warn({ err: (error as Error).message }, 'stats read before apply failed'));
      result = await this.controller.apply(config.services.xray ?? null);
      await this.telemt.apply(config.services.mtproto);
    } catch (error) {
      this.failed = { revision: config.revision, hash, at: Date.now() };
      this.log.error({ revision: config.revision, err: (error as Error).message }, 'config not applied');
      this.events.emit('apply-failed', config.revision, error as Error);
      this.reportApplyError(config.revision, error as Error);
      await this.sendPendingReport();
      return;
    }
    this.failed = null;
    this.applied = { revision: config.revision, etag, clientMap: config.clientMap, services: config.services };
    await writeFileAtomic(path.join(this.dir, 'applied.json'), JSON.stringify(this.applied), 0o600);
    this.accountant.setAttribution(config.clientMap, config.services.xray ?? null);
    for (const warning of result.warnings) this.log.warn({ revision: config.revision }, `config adapted for ${this.controller.flavour}: ${warning}`);
    this.log.info({ revision: config.revision, mode: result.mode, added: result.added, removed: result.removed }, 'config applied');
    this.events.emit('applied', config.revision, result);
    this.unserved = [...skippedInbounds(result.warnings), ...(await closedInbounds(config.services.xray ?? null, result.warnings))];
    this.reportOutcome(config.revision);
    await this.sendPendingReport();
  }

  /**
   * `applied` only when every inbound of the revision is listening; otherwise an error naming the
   * inbounds the core dropped or that do not listen, so the node is not `synced` while not serving.
   */
  private reportOutcome(revision: number): void {
    if (this.unserved.length === 0) return this.report({ kind: 'applied', revision });
    const list = this.unserved.map((u) => `${u.tag} (${u.reason})`).join('; ');
    this.report({
      kind: 'error',
      body: {
        message: `revision ${revision} applied, but not every inbound is served: ${list}`.slice(0, 3900),
        code: 'CORE_INBOUNDS_NOT_SERVED',
        details: { revision, flavour: this.controller.flavour, inbounds: this.unserved },
      },
    });
  }

  private reportApplyError(revision: number, error: Error): void {
    const code =
      error instanceof CoreBinaryError
        ? error.code
        : error instanceof CoreConfigError
          ? 'CORE_CONFIG_INVALID'
          : error instanceof CoreStartError
            ? 'CORE_START_FAILED'
            : error instanceof TelemtConfigError
              ? 'MTPROTO_CONFIG_INVALID'
              : 'APPLY_FAILED';
    const output = error instanceof CoreConfigError || error instanceof CoreStartError ? lastLines(error.output, 5) : undefined;
    this.report({
      kind: 'error',
      body: {
        message: error.message.slice(0, 3900),
        code,
        details: { revision, flavour: this.controller.flavour, binary: this.config.binary, ...(output ? { output } : {}) },
      },
    });
  }

  /** The newest report wins: an applied after an error clears it, and vice versa. */
  private report(report: Report): void {
    this.pendingReport = report;
    this.events.emit('reported', report);
    void this.sendPendingReport().catch(() => {});
  }

  /** Single-flight: each report is sent once; a newer one queued meanwhile goes right after. */
  private sendPendingReport(): Promise<void> {
    this.reporting ??= (async () => {
      for (;;) {
        const report = this.pendingReport;
        if (!report) return;
        const key = this.client.authKey;
        try {
          if (report.kind === 'applied') await this.client.configApplied(report.revision);
          else await this.client.reportError(report.body);
          if (this.pendingReport === report) this.pendingReport = null;
        } catch (error) {
          const what = report.kind === 'applied' ? 'config/applied report' : 'error report';
          if (error instanceof NodeApiError && error.status >= 400 && error.status < 500 && ![401, 408, 429].includes(error.status)) {
            // Refused for good (e.g. 409: a revision the server never issued); the next sync decides.
            this.log.warn({ err: error.message }, `${what} refused`);
            if (this.pendingReport === report) this.pendingReport = null;
            continue;
          }
          // Kept for the next heartbeat.
          this.onCallError(what, error, key);
          return;
        }
      }
    })().finally(() => {
      this.reporting = null;
    });
    return this.reporting;
  }

  private schedulePush(delayMs: number): void {
    if (this.stopping) return;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.pushTimer = setTimeout(() => void this.pushTick(), delayMs);
  }

  private async pushTick(): Promise<void> {
    this.pushTimer = null;
    let next = this.config.usagePushIntervalMs;
    try {
      const result = await this.pushNow();
      if (result.remaining > 0) next = this.pushBackoff.next();
      else this.pushBackoff.reset();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'usage push failed');
      next = this.pushBackoff.next();
    }
    this.schedulePush(next);
  }

  /** Seal what the polls gathered and push every sealed batch in order. */
  async pushNow(): Promise<FlushResult> {
    await this.journal.seal();
    const result = await this.journal.flush((item) => this.send(item));
    if (result.pushed || result.rejected) this.log.info(result, 'usage pushed');
    if (result.remaining) this.log.warn({ remaining: result.remaining }, 'usage push incomplete; kept for retry');
    this.events.emit('pushed', result);
    return result;
  }

  private async send(item: JournalItem): Promise<void> {
    const key = this.client.authKey;
    try {
      await this.client.push(item.route, item.body, item.key);
    } catch (error) {
      if (error instanceof NodeApiError) {
        if (error.status === 401) this.onUnauthorized(key, `push ${item.route}`);
        else if (!error.transient) throw new PermanentPushError(error.message);
      }
      throw error;
    }
  }

  private fail(error: Error): Promise<void> {
    this.log.error({ err: error.message }, 'core role cannot continue');
    return this.shutdown(error);
  }

  private shutdown(error: Error | null): Promise<void> {
    this.stopping ??= (async () => {
      if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
      if (this.pushTimer) clearTimeout(this.pushTimer);
      await this.accountant.stop();
      // Stopping the core reads its counters one last time (the controller's beforeStop hook).
      await this.controller.stop().catch((e) => this.log.error({ err: (e as Error).message }, 'stopping the core failed'));
      await this.telemt.stop().catch(() => {});
      if (!error) {
        // Best effort: what does not get through in a few seconds stays in the journal for next time.
        await Promise.race([this.pushNow().catch(() => {}), sleep(5_000, undefined, { ref: false })]);
      }
      this.abort.abort();
      this.log.info('core role stopped');
      if (error) this.done.reject(error);
      else this.done.resolve();
    })();
    return this.stopping;
  }
}

function contentHash(config: { revision: number; clientMap: unknown; services: unknown }): string {
  return createHash('sha256')
    .update(JSON.stringify([config.revision, config.clientMap, config.services]))
    .digest('hex');
}
