/**
 * Self-update (edge-admin spec §10; frames in src/contract/agent-stream.ts). A `self_update` frame is
 * answered at once with `self_update_ack` — refused when self-update is disabled or no update command
 * is configured — then the update command runs (`/bin/sh -c`, 10 min limit) and `self_update_result`
 * says how it went. On success the agent restarts into what was installed: it stops cleanly and
 * re-executes itself, and the fresh process's registration reports the new version.
 *
 * While the stream is down the agent asks `GET /api/v1/agents/self_updates/check` every
 * selfUpdateCheckIntervalMs instead, and applies the newest request that includes it if that
 * request is newer than the last one applied here (`<data dir>/self-update.json`).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Logger } from 'pino';
import type { SelfUpdateFrame, SelfUpdateResultFrame } from '../../contract/agent-stream.ts';
import type { AgentFeature, AgentRuntime } from './features.ts';
import { runShell } from './shell.ts';
import { readJsonFile, writeFileAtomic } from '../shared/state.ts';

const SELF_UPDATE_FILE = 'self-update.json';
export const selfUpdatePath = (dataDir: string) => path.join(dataDir, SELF_UPDATE_FILE);

/** What this node last applied; `inserted_at` is the server's time of that request. */
export interface SelfUpdateRecord {
  last_applied_inserted_at: string | null;
  last_request_id: string | null;
  applied_at: string;
}

/** How to start this same agent again: the process as it was launched. */
export interface RestartPlan {
  execPath: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Restarter = (plan: RestartPlan, log: Logger) => void | Promise<void>;

export interface SelfUpdaterOptions {
  /** The restart step (default: restartProcess); tests pass a recorder. */
  restart?: Restarter;
  /** Limit for the update command (10 min). */
  commandTimeoutMs?: number;
  killGraceMs?: number;
  /** Output carried in the result frame is capped at min(this, outputLimitBytes) (64 KiB). */
  maxOutputBytes?: number;
}

interface Attempt {
  /** Known for stream requests; the HTTP check names only the request's time. */
  requestId: string | null;
  insertedAt: string | null;
}

export class SelfUpdater implements AgentFeature {
  readonly name = 'self-update';
  private rt!: AgentRuntime;
  private log!: Logger;
  private record: SelfUpdateRecord | null = null;
  private current: Attempt | null = null;
  private restarting = false;
  private stopped = false;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** A result the stream was closed for; sent when it opens again. */
  private unsentResult: SelfUpdateResultFrame | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly options: SelfUpdaterOptions = {}) {}

  async start(runtime: AgentRuntime): Promise<void> {
    this.rt = runtime;
    this.log = runtime.log.child({ feature: this.name });
    this.record = await this.loadRecord();
    const { stream } = runtime;
    const onFrame = (frame: SelfUpdateFrame) => this.onRequest(frame.self_update_request_id);
    const onOpen = () => {
      if (this.unsentResult && stream.send(this.unsentResult)) this.unsentResult = null;
    };
    stream.on('self_update', onFrame);
    stream.on('open', onOpen);
    this.unsubscribe.push(
      () => stream.off('self_update', onFrame),
      () => stream.off('open', onOpen),
    );
    if (this.refusal() === null) {
      this.checkTimer = setInterval(() => void this.check(), runtime.config.selfUpdateCheckIntervalMs);
    }
  }

  async stop(): Promise<void> {
    // A running update command is left to finish: an install cut in half is worse than an orphan.
    this.stopped = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Why this node cannot update, or null when it can. */
  private refusal(): string | null {
    if (!this.rt.config.selfUpdateEnabled) return 'self-update is disabled on this node (NODEPLANE_AGENT_SELF_UPDATE_ENABLED)';
    if (!this.rt.config.updateCommand) return 'no update command is configured on this node (NODEPLANE_AGENT_UPDATE_COMMAND)';
    return null;
  }

  private onRequest(requestId: string): void {
    const ack = (accepted: boolean, reason?: string) => {
      const sent = this.rt.stream.send({ type: 'self_update_ack', self_update_request_id: requestId, accepted, ...(reason ? { reason } : {}) });
      if (!sent) this.log.warn({ self_update_request_id: requestId }, 'stream closed; self-update ack not sent');
    };
    const refusal = this.stopped ? 'the agent is shutting down' : this.refusal();
    if (refusal) {
      this.log.info({ self_update_request_id: requestId, reason: refusal }, 'self-update refused');
      ack(false, refusal);
      return;
    }
    if (this.current || this.restarting) {
      // A repeated frame for the update under way is acknowledged again, not run again.
      if (this.current?.requestId === requestId) ack(true);
      else ack(false, this.restarting ? 'the agent is restarting after an update' : 'another self-update is in progress');
      return;
    }
    ack(true);
    void this.apply({ requestId, insertedAt: null });
  }

  /** The HTTP path, only while the stream is down. */
  private async check(): Promise<void> {
    if (this.stopped || this.checking || this.current || this.restarting || this.rt.stream.isOpen) return;
    this.checking = true;
    try {
      const answer = await this.rt.api.checkSelfUpdate();
      if (!answer.including_me || !answer.inserted_at || this.stopped || this.rt.stream.isOpen) return;
      const last = this.record?.last_applied_inserted_at;
      if (last && !(Date.parse(answer.inserted_at) > Date.parse(last))) return;
      this.log.info({ inserted_at: answer.inserted_at, last_applied: last ?? null }, 'self-update request found over HTTP');
      await this.apply({ requestId: null, insertedAt: answer.inserted_at });
    } catch (error) {
      if (!this.stopped) this.log.warn({ err: (error as Error).message }, 'self-update check failed');
    } finally {
      this.checking = false;
    }
  }

  private async apply(attempt: Attempt): Promise<void> {
    this.current = attempt;
    const command = this.rt.config.updateCommand!;
    const timeoutMs = this.options.commandTimeoutMs ?? 600_000;
    const log = this.log.child({ self_update_request_id: attempt.requestId, inserted_at: attempt.insertedAt });
    log.info('running the update command');
    let status: 'succeeded' | 'failed';
    let exitCode: number | null;
    let output: string;
    try {
      const result = await runShell(command, {
        timeoutMs,
        outputLimitBytes: Math.min(this.rt.config.outputLimitBytes, this.options.maxOutputBytes ?? 65_536),
        killGraceMs: this.options.killGraceMs,
      }).done;
      const timedOut = result.end === 'timeout';
      status = result.end === 'exited' && result.exitCode === 0 ? 'succeeded' : 'failed';
      exitCode = timedOut ? 124 : result.exitCode;
      output = timedOut
        ? `${result.output}${result.output && !result.output.endsWith('\n') ? '\n' : ''}Update command timed out after ${timeoutMs} milliseconds`
        : result.end === 'spawn_error'
          ? `Agent could not start /bin/sh: ${result.error ?? 'unknown error'}`
          : result.output;
    } catch (error) {
      status = 'failed';
      exitCode = null;
      output = `Agent could not run the update command: ${(error as Error).message}`;
    }
    log[status === 'succeeded' ? 'info' : 'warn']({ status, exit_code: exitCode }, 'update command finished');

    if (attempt.requestId !== null) {
      const frame: SelfUpdateResultFrame = { type: 'self_update_result', self_update_request_id: attempt.requestId, status, exit_code: exitCode, output };
      if (!this.rt.stream.send(frame)) {
        log.warn('stream closed; the update result is sent when it reopens');
        if (status === 'failed') this.unsentResult = frame;
      }
    }
    if (status === 'failed' || this.stopped) {
      // A failure is not recorded: the HTTP path tries the same request again at its next check.
      this.current = null;
      return;
    }
    this.restarting = true;
    this.current = null;
    await this.remember(attempt);
    const plan: RestartPlan = {
      execPath: process.execPath,
      args: [...process.execArgv, ...process.argv.slice(1)],
      env: { ...process.env },
      cwd: process.cwd(),
    };
    log.info({ exec: plan.execPath, args: plan.args }, 'update installed; restarting into the new version');
    await (this.options.restart ?? restartProcess)(plan, log);
  }

  /**
   * Records the applied request before restarting, so the HTTP path does not apply it again. A
   * stream request names no time, so the server is asked which request is newest (best effort).
   */
  private async remember(attempt: Attempt): Promise<void> {
    let insertedAt = attempt.insertedAt;
    if (insertedAt === null) {
      try {
        const answer = await this.rt.api.checkSelfUpdate();
        if (answer.including_me) insertedAt = answer.inserted_at;
      } catch (error) {
        this.log.debug({ err: (error as Error).message }, 'could not learn the applied request time');
      }
    }
    const previous = this.record?.last_applied_inserted_at ?? null;
    const newer = insertedAt !== null && (previous === null || Date.parse(insertedAt) > Date.parse(previous));
    const record: SelfUpdateRecord = {
      last_applied_inserted_at: newer ? insertedAt : previous,
      last_request_id: attempt.requestId ?? this.record?.last_request_id ?? null,
      applied_at: new Date().toISOString(),
    };
    try {
      await writeFileAtomic(selfUpdatePath(this.rt.config.dataDir), `${JSON.stringify(record, null, 2)}\n`, 0o600);
      this.record = record;
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'cannot record the applied self-update');
    }
  }

  private async loadRecord(): Promise<SelfUpdateRecord | null> {
    try {
      const raw = (await readJsonFile(selfUpdatePath(this.rt.config.dataDir))) as Partial<SelfUpdateRecord> | undefined;
      if (raw === undefined) return null;
      return {
        last_applied_inserted_at: typeof raw.last_applied_inserted_at === 'string' ? raw.last_applied_inserted_at : null,
        last_request_id: typeof raw.last_request_id === 'string' ? raw.last_request_id : null,
        applied_at: typeof raw.applied_at === 'string' ? raw.applied_at : '',
      };
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'self-update record unreadable; treating every request as new');
      return null;
    }
  }
}

/**
 * The real restart: asks the agent to stop the way an operator's SIGTERM does (runAgent's handler
 * stops every feature and the stream, then the process exits 0), and spawns the same command line
 * from the process's 'exit' hook, detached with stdio inherited, so the successor starts only once
 * this agent has let go of its ports and its stream. Under systemd (INVOCATION_ID set) the unit's
 * control group would take a detached child down with us, so the unit's `Restart=always` restarts
 * the agent instead.
 */
export const restartProcess: Restarter = (plan, log) => {
  const underSystemd = Boolean(process.env.INVOCATION_ID);
  if (underSystemd) {
    log.info('running as a systemd service: exiting for the unit to restart the agent (needs Restart=always)');
  } else {
    process.once('exit', () => {
      const child = spawn(plan.execPath, plan.args, { cwd: plan.cwd, env: plan.env, stdio: 'inherit', detached: true });
      child.unref();
    });
  }
  if (process.listenerCount('SIGTERM') > 0) {
    process.kill(process.pid, 'SIGTERM');
  } else {
    // Nobody to stop the agent cleanly (not started by runAgent): exit directly.
    process.exit(0);
  }
};
