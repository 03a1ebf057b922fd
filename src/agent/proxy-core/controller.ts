/**
 * ProxyCoreController: supervises one proxy core process (Xray, or Debian's V2Ray 4.34).
 *
 * - Writes `<dir>/config.json` (0600: it holds every user's credentials) = Core's config rendered
 *   with the agent's API/stats/policy parts (xray-config.ts), validated with `<binary> -test` first.
 * - Starts the core in its own process group with stdout/stderr appended to `<dir>/core.log`, so the
 *   core outlives a killed agent (no broken pipe) and keeps counting; the next agent adopts it when
 *   it runs the same config, or reads its counters and replaces it (orphan handling in start()).
 * - Restarts it after a crash with jittered backoff (1 s doubling to 60 s; reset once it stayed up
 *   30 s) and emits `exited` / `started` / `restart-failed` so the caller can report.
 * - apply(): nothing when nothing changed; runtime AlterInbound add/remove when only the users of
 *   vmess/vless/trojan inbounds changed; otherwise restart. A config the core refuses leaves the
 *   running one alone; a restart that fails rolls back to the previous config.
 *
 * Reused by the PasarGuard Node API (a later issue): it only needs apply(), stop() and the clients.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../shared/backoff.ts';
import { readJsonFile, writeFileAtomic } from '../shared/state.ts';
import { assertCoreBinary, detectCoreFlavour } from './core-binary.ts';
import { type CoreFlavour, HandlerClient, StatsClient } from './grpc-api.ts';
import { type ApplyPlan, planApply, renderCoreConfig, type XrayConfig } from './xray-config.ts';

/** The core refused the config (`-test` failed); the running core is untouched. */
export class CoreConfigError extends Error {
  override name = 'CoreConfigError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The core did not come up (exited, or its API never answered). */
export class CoreStartError extends Error {
  override name = 'CoreStartError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

export interface ControllerOptions {
  /** null = read from `<binary> -version` before the first start (core-binary.ts). */
  flavour: CoreFlavour | null;
  binary: string;
  /** `<dataDir>/core`: config.json, core.log, core.pid.json live here. */
  dir: string;
  logger: Logger;
  /** Crash restarts (1 s doubling to 60 s, ±20 %). */
  backoff?: BackoffOptions;
  /** Uptime after which a crash counts as a first failure again (30 s). */
  stableAfterMs?: number;
  /** How long a starting core may take before its API answers (30 s; 10k VMess users load in ~3 s). */
  readyTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace (5 s). */
  stopTimeoutMs?: number;
}

export interface CoreStarted {
  pid: number;
  apiPort: number;
  reason: 'apply' | 'restart' | 'crash-restart' | 'adopted' | 'rollback';
}

export interface CoreExited {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  uptimeMs: number;
  /** The tail of what the core printed during this run. */
  output: string;
}

export interface ApplyResult {
  mode: 'none' | 'users' | 'restart' | 'start' | 'stop';
  added: number;
  removed: number;
  /** What the V2Ray compatibility rewrite dropped or changed. */
  warnings: string[];
  /** Why a runtime user change fell back to a restart. */
  fallback?: string;
}

interface RunningCore {
  pid: number;
  child: ChildProcess | null;
  apiPort: number;
  rendered: XrayConfig;
  startedAt: number;
  logOffset: number;
  stats: StatsClient;
  handler: HandlerClient;
  /** Set before a deliberate stop, so the exit is not taken for a crash. */
  planned: boolean;
  exited: Promise<void>;
  watch: NodeJS.Timeout | null;
}

interface PidFile {
  pid: number;
  apiPort: number;
  binary: string;
  config: string;
  startedAt: number;
}

type Events = {
  started: [CoreStarted];
  exited: [CoreExited];
  'restart-failed': [{ error: string; attempt: number; retryInMs: number }];
};

const LOG_ROTATE_BYTES = 5 * 1024 * 1024;

export class ProxyCoreController extends EventEmitter<Events> {
  private core: RunningCore | null = null;
  /** What the supervisor keeps running (null = no core wanted). */
  private desired: XrayConfig | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly backoff: Backoff;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private beforeStop: ((stats: StatsClient) => Promise<void>) | null = null;
  private readonly log: Logger;
  readonly configFile: string;
  private readonly pidFile: string;
  readonly logFile: string;
  private detected: CoreFlavour | null = null;

  constructor(private readonly options: ControllerOptions) {
    super();
    this.detected = options.flavour;
    this.log = options.logger;
    this.backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000, ...options.backoff });
    this.configFile = path.join(options.dir, 'config.json');
    this.pidFile = path.join(options.dir, 'core.pid.json');
    this.logFile = path.join(options.dir, 'core.log');
  }

  /** Known once the binary was checked (given, or detected by the first start/apply). */
  get flavour(): CoreFlavour | null {
    return this.detected;
  }

  /** The binary exists (CoreBinaryError "core binary not found at …" otherwise) and its flavour is known. */
  private async coreFlavour(): Promise<CoreFlavour> {
    await assertCoreBinary(this.options.binary);
    if (!this.detected) {
      const { flavour, version } = await detectCoreFlavour(this.options.binary);
      this.log.info({ binary: this.options.binary, flavour, version }, 'core flavour detected');
      this.detected = flavour;
    }
    return this.detected;
  }

  get running(): boolean {
    return this.core !== null;
  }

  get pid(): number | null {
    return this.core?.pid ?? null;
  }

  get apiPort(): number | null {
    return this.core?.apiPort ?? null;
  }

  /** Stats of the running core; null while none runs. */
  get stats(): StatsClient | null {
    return this.core?.stats ?? null;
  }

  get handler(): HandlerClient | null {
    return this.core?.handler ?? null;
  }

  /**
   * Runs before every deliberate stop of a core (restart, stop(), replacing an orphan): reset-on-read
   * counters die with the process, so the accountant reads them here.
   */
  setBeforeStop(hook: ((stats: StatsClient) => Promise<void>) | null): void {
    this.beforeStop = hook;
  }

  /**
   * First start. Adopts a core left running by a previous agent process when it runs exactly
   * `config`; otherwise reads its counters (beforeStop) and replaces it. `null` = nothing to run yet.
   */
  start(config: XrayConfig | null): Promise<ApplyResult> {
    return this.exclusive(async () => {
      const orphan = await this.findOrphan();
      // An orphan is read (or adopted) through the API, whose names depend on the flavour.
      if (orphan) await this.coreFlavour();
      if (orphan && config) {
        const rendered = renderCoreConfig(config, { flavour: await this.coreFlavour(), apiPort: orphan.apiPort });
        const onDisk = await readJsonFile(this.configFile).catch(() => undefined);
        if (JSON.stringify(onDisk) === JSON.stringify(rendered.config)) {
          this.adopt(orphan, rendered.config);
          this.desired = config;
          return { mode: 'none', added: 0, removed: 0, warnings: rendered.warnings };
        }
      }
      if (orphan) await this.replaceOrphan(orphan);
      if (!config) return { mode: 'none', added: 0, removed: 0, warnings: [] };
      return this.applyLocked(config);
    });
  }

  /** Serialised with crash restarts; throws CoreConfigError / CoreStartError (running core kept or restored). */
  apply(config: XrayConfig | null): Promise<ApplyResult> {
    return this.exclusive(() => this.applyLocked(config));
  }

  /** Stops supervising and stops the core (after the beforeStop hook). */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    return this.exclusive(async () => {
      this.desired = null;
      if (this.core) await this.stopCore(this.core);
    });
  }

  private async applyLocked(config: XrayConfig | null): Promise<ApplyResult> {
    if (this.stopped) throw new Error('controller stopped');
    if (config === null) {
      this.desired = null;
      if (this.core) await this.stopCore(this.core);
      return { mode: 'stop', added: 0, removed: 0, warnings: [] };
    }
    const flavour = await this.coreFlavour();
    const current = this.core;
    if (!current) {
      const { config: rendered, warnings } = renderCoreConfig(config, { flavour, apiPort: await freePort() });
      await this.validate(rendered);
      await this.startCore(rendered, 'apply');
      this.desired = config;
      return { mode: 'start', added: 0, removed: 0, warnings };
    }

    const { config: rendered, warnings } = renderCoreConfig(config, { flavour, apiPort: current.apiPort });
    let plan: ApplyPlan = planApply(current.rendered, rendered);
    if (plan.kind === 'none') {
      this.desired = config;
      return { mode: 'none', added: 0, removed: 0, warnings };
    }
    let fallback: string | undefined;
    if (plan.kind === 'users') {
      // The file first: a crash from here on restarts the core with the new users.
      await writeFileAtomic(this.configFile, JSON.stringify(rendered, null, 2), 0o600);
      try {
        await this.alterUsers(current, plan);
        current.rendered = rendered;
        this.desired = config;
        this.log.info({ added: plan.added, removed: plan.removed }, 'core users changed at runtime');
        return { mode: 'users', added: plan.added, removed: plan.removed, warnings };
      } catch (error) {
        fallback = (error as Error).message;
        this.log.warn({ err: fallback }, 'runtime user change failed; restarting the core instead');
        plan = { kind: 'restart', reason: `runtime user change failed: ${fallback}` };
      }
    }

    const next = withApiPort(rendered, await freePort());
    try {
      await this.validate(next);
    } catch (error) {
      // A half-done runtime change leaves the core between two configs: put the old one back.
      if (fallback !== undefined) await this.restartWith(current, withApiPort(current.rendered, await freePort()), 'rollback').catch(() => {});
      else await writeFileAtomic(this.configFile, JSON.stringify(current.rendered, null, 2), 0o600);
      throw error;
    }
    this.log.info({ reason: plan.kind === 'restart' ? plan.reason : '' }, 'restarting the core with a new config');
    await this.restartWith(current, next, 'restart');
    this.desired = config;
    return { mode: 'restart', added: 0, removed: 0, warnings, fallback };
  }

  /** Stops `current`, starts `next`; when `next` does not come up, the previous config is started again. */
  private async restartWith(current: RunningCore, next: XrayConfig, reason: CoreStarted['reason']): Promise<void> {
    const previous = current.rendered;
    await this.stopCore(current);
    try {
      await this.startCore(next, reason);
    } catch (error) {
      if (reason === 'rollback') throw error;
      this.log.error({ err: (error as Error).message }, 'new core config did not start; rolling back');
      try {
        await this.startCore(withApiPort(previous, await freePort()), 'rollback');
      } catch (rollbackError) {
        this.log.error({ err: (rollbackError as Error).message }, 'previous core config did not start either');
        this.scheduleRestart();
      }
      throw error;
    }
  }

  private async alterUsers(core: RunningCore, plan: Extract<ApplyPlan, { kind: 'users' }>): Promise<void> {
    for (const change of plan.changes) {
      for (const email of change.remove) {
        await core.handler.removeUser(change.tag, email).catch((error) => {
          if (!error.notFound) throw error;
        });
      }
      for (const user of change.add) {
        await core.handler.addUser(change.tag, change.protocol, user).catch(async (error) => {
          // A user the core already has (say, from a half-done earlier attempt): replace it.
          if (!error.alreadyExists) throw error;
          await core.handler.removeUser(change.tag, user.email);
          await core.handler.addUser(change.tag, change.protocol, user);
        });
      }
    }
  }

  private args(file: string, test: boolean): string[] {
    if (this.detected === 'xray') return test ? ['run', '-test', '-c', file] : ['run', '-c', file];
    return test ? ['-test', '-config', file] : ['-config', file];
  }

  async validate(rendered: XrayConfig): Promise<void> {
    await this.coreFlavour();
    const file = path.join(this.options.dir, 'config.next.json');
    await writeFileAtomic(file, JSON.stringify(rendered, null, 2), 0o600);
    try {
      const { code, output } = await runCapture(this.options.binary, this.args(file, true));
      if (code !== 0) {
        const reason = output
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !/^(V2Ray|Xray) \d|A unified platform/.test(l))
          .slice(-3)
          .join(' ');
        throw new CoreConfigError(`the core refused the config: ${reason || `exit ${code}`}`, output.slice(-4000));
      }
    } finally {
      await rm(file, { force: true });
    }
  }

  private async startCore(rendered: XrayConfig, reason: CoreStarted['reason']): Promise<void> {
    await writeFileAtomic(this.configFile, JSON.stringify(rendered, null, 2), 0o600);
    const logOffset = await this.rotateLog();
    const fd = openSync(this.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(this.options.binary, this.args(this.configFile, false), { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const apiPort = Number((rendered.inbounds as Array<{ port: number }>)[0]!.port);
    const address = `127.0.0.1:${apiPort}`;
    const core: RunningCore = {
      pid: child.pid ?? -1,
      child,
      apiPort,
      rendered,
      startedAt: Date.now(),
      logOffset,
      stats: new StatsClient({ address, flavour: this.detected! }),
      handler: new HandlerClient({ address, flavour: this.detected! }),
      planned: false,
      exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
      watch: null,
    };
    child.once('exit', (code, signal) => void this.onExit(core, code, signal));
    const ready = await Promise.race([this.waitReady(core), spawnError.then((e) => new CoreStartError(`cannot run ${this.options.binary}: ${e.message}`, ''))]);
    if (ready instanceof Error) {
      core.planned = true;
      killQuietly(core.pid, 'SIGKILL');
      await core.exited;
      closeClients(core);
      throw ready;
    }
    this.core = core;
    await writeFileAtomic(
      this.pidFile,
      JSON.stringify({ pid: core.pid, apiPort, binary: this.options.binary, config: this.configFile, startedAt: core.startedAt } satisfies PidFile),
      0o600,
    );
    this.log.info({ pid: core.pid, apiPort, reason }, 'core started');
    this.emit('started', { pid: core.pid, apiPort, reason });
  }

  /** Resolves null once the API answers; a CoreStartError when the core exits or stays silent. */
  private async waitReady(core: RunningCore): Promise<CoreStartError | null> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    let exited = false;
    void core.exited.then(() => (exited = true));
    for (;;) {
      if (exited) {
        const { exitCode: code, signalCode } = core.child!;
        return new CoreStartError(
          `the core exited during start (${signalCode ?? `code ${code}`}): ${lastLines(await this.output(core))}`,
          await this.output(core),
        );
      }
      try {
        await core.stats.getSysStats();
        return null;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) return new CoreStartError('the core API did not answer in time', await this.output(core));
      await sleep(100);
    }
  }

  private async onExit(core: RunningCore, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (core.watch) clearInterval(core.watch);
    if (core.planned || this.core !== core) return;
    this.core = null;
    closeClients(core);
    const uptimeMs = Date.now() - core.startedAt;
    const output = await this.output(core);
    this.log.error({ pid: core.pid, code, signal, uptimeMs, output: lastLines(output) }, 'core exited unexpectedly');
    this.emit('exited', { pid: core.pid, code, signal, uptimeMs, output });
    if (uptimeMs >= (this.options.stableAfterMs ?? 30_000)) this.backoff.reset();
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped || !this.desired || this.restartTimer) return;
    const delay = this.backoff.next();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.exclusive(async () => {
        if (this.stopped || this.core || !this.desired) return;
        const { config } = renderCoreConfig(this.desired, { flavour: this.detected!, apiPort: await freePort() });
        try {
          await this.startCore(config, 'crash-restart');
        } catch (error) {
          const retryInMs = this.backoff.peekBase();
          this.log.error({ err: (error as Error).message, attempt: this.backoff.attempts, retryInMs }, 'core restart failed');
          this.emit('restart-failed', { error: (error as Error).message, attempt: this.backoff.attempts, retryInMs });
          this.scheduleRestart();
        }
      });
    }, delay);
    this.log.warn({ retryInMs: delay, attempt: this.backoff.attempts }, 'core will be restarted');
  }

  private async stopCore(core: RunningCore): Promise<void> {
    if (this.beforeStop) {
      await this.beforeStop(core.stats).catch((error) => this.log.warn({ err: (error as Error).message }, 'reading counters before stopping the core failed'));
    }
    core.planned = true;
    if (this.core === core) this.core = null;
    if (core.watch) clearInterval(core.watch);
    killQuietly(core.pid, 'SIGTERM');
    if (!(await waitExit(core, this.options.stopTimeoutMs ?? 5_000))) {
      killQuietly(core.pid, 'SIGKILL');
      await waitExit(core, 60_000);
    }
    closeClients(core);
    await rm(this.pidFile, { force: true });
    this.log.info({ pid: core.pid }, 'core stopped');
  }

  private async findOrphan(): Promise<PidFile | null> {
    const raw = (await readJsonFile(this.pidFile).catch(() => undefined)) as PidFile | undefined;
    if (!raw || !Number.isInteger(raw.pid) || raw.pid <= 1) return null;
    // Pid reuse: only a process running our binary on our config file is ours.
    const cmdline = await readFile(`/proc/${raw.pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(this.configFile) || !isAlive(raw.pid)) {
      await rm(this.pidFile, { force: true });
      return null;
    }
    return raw;
  }

  private adopt(orphan: PidFile, rendered: XrayConfig): void {
    const address = `127.0.0.1:${orphan.apiPort}`;
    let resolveExit!: () => void;
    const core: RunningCore = {
      pid: orphan.pid,
      child: null,
      apiPort: orphan.apiPort,
      rendered,
      startedAt: orphan.startedAt,
      logOffset: 0,
      stats: new StatsClient({ address, flavour: this.detected! }),
      handler: new HandlerClient({ address, flavour: this.detected! }),
      planned: false,
      exited: new Promise<void>((resolve) => (resolveExit = resolve)),
      watch: null,
    };
    // Not our child, so no exit event: watch for it.
    core.watch = setInterval(() => {
      if (isAlive(core.pid)) return;
      resolveExit();
      void this.onExit(core, null, null);
    }, 500);
    core.watch.unref();
    this.core = core;
    this.log.info({ pid: orphan.pid, apiPort: orphan.apiPort }, 'adopted the core a previous agent started');
    this.emit('started', { pid: orphan.pid, apiPort: orphan.apiPort, reason: 'adopted' });
  }

  private async replaceOrphan(orphan: PidFile): Promise<void> {
    this.log.info({ pid: orphan.pid }, 'a core from a previous agent is still running; reading its counters and replacing it');
    const stats = new StatsClient({ address: `127.0.0.1:${orphan.apiPort}`, flavour: this.detected! });
    try {
      if (this.beforeStop)
        await this.beforeStop(stats).catch((error) => this.log.warn({ err: (error as Error).message }, 'reading the old core counters failed'));
    } finally {
      stats.close();
    }
    killQuietly(orphan.pid, 'SIGTERM');
    const deadline = Date.now() + (this.options.stopTimeoutMs ?? 5_000);
    while (isAlive(orphan.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(orphan.pid)) killQuietly(orphan.pid, 'SIGKILL');
    while (isAlive(orphan.pid)) await sleep(20);
    await rm(this.pidFile, { force: true });
  }

  /** Keeps core.log bounded across starts; returns the offset this run's output starts at. */
  private async rotateLog(): Promise<number> {
    const size = await stat(this.logFile).then(
      (s) => s.size,
      () => 0,
    );
    if (size < LOG_ROTATE_BYTES) return size;
    await rename(this.logFile, `${this.logFile}.1`);
    return 0;
  }

  private async output(core: RunningCore): Promise<string> {
    try {
      const handle = await open(this.logFile, 'r');
      try {
        const { size } = await handle.stat();
        const from = Math.max(core.logOffset, size - 8192);
        const buffer = Buffer.alloc(Math.max(0, size - from));
        await handle.read(buffer, 0, buffer.length, from);
        return buffer.toString('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return '';
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** The same rendered config with the agent's API inbound (always first) on another port. */
function withApiPort(rendered: XrayConfig, apiPort: number): XrayConfig {
  const [api, ...rest] = rendered.inbounds ?? [];
  return { ...rendered, inbounds: [{ ...api, port: apiPort }, ...rest] };
}

/** true once the core is gone; an adopted core is not our child, so it is polled. */
async function waitExit(core: RunningCore, ms: number): Promise<boolean> {
  if (core.child) {
    const timer = new AbortController();
    try {
      return await Promise.race([
        core.exited.then(() => true),
        sleep(ms, undefined, { signal: timer.signal }).then(
          () => false,
          () => false,
        ),
      ]);
    } finally {
      timer.abort();
    }
  }
  const deadline = Date.now() + ms;
  while (isAlive(core.pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

function closeClients(core: RunningCore): void {
  core.stats.close();
  core.handler.close();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function lastLines(output: string, n = 3): string {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ');
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function runCapture(binary: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', (error) => resolve({ code: -1, output: `cannot run ${binary}: ${error.message}` }));
    child.once('close', (code) => resolve({ code, output }));
  });
}
