/**
 * Command executions (edge-admin spec §6.5, §8.3; stream contract in src/contract/agent-stream.ts).
 *
 * Work arrives as `execution` frames and, as a fallback, from `GET …/command_executions?status=pending`
 * (at start, whenever the stream opens, and every executionPollIntervalMs while it is closed). Each
 * execution is claimed with `PATCH …/acknowledge` (pending → sent) and run only if that succeeds;
 * the ledger (execution-ledger.ts) records the claim before the call and the start before the spawn,
 * so neither duplicate deliveries nor restarts run anything twice. Results go back with
 * `PATCH …/result`, retried until the server takes them or refuses them for good.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AgentExecution, CancelExecutionFrame, ExecutionFrame } from '../../contract/agent-stream.ts';
import { ApiError, type ExecutionResultBody } from './api-client.ts';
import { Backoff, type BackoffOptions } from '../shared/backoff.ts';
import { ExecutionLedger, type LedgerOptions } from './execution-ledger.ts';
import type { AgentFeature, AgentRuntime } from './features.ts';
import { renderTail, runShell, type ShellProcess, type ShellResult } from './shell.ts';

/** What a command that was running when the agent died is reported as; it is never run again. */
export const RESTARTED_EXIT_CODE = 137;
export const RESTARTED_OUTPUT = 'Agent restarted while the command was running; it was not run again and its outcome is unknown';
const CANCELLED_EXIT_CODE = 143;
const CANCELLED_OUTPUT = 'Command cancelled';
const TIMEOUT_EXIT_CODE = 124;
const timeoutOutput = (ms: number) => `Command timed out after ${ms} milliseconds`;

export interface CommandRunnerOptions {
  /** Commands running at once; the rest wait in arrival order (8). */
  maxConcurrent?: number;
  /** Retry pacing for acknowledge, result and list calls (1 s doubling to 30 s). */
  retry?: BackoffOptions;
  /** SIGTERM → SIGKILL delay after a timeout or cancel (5 s). */
  killGraceMs?: number;
  /** The same delay when the agent shuts down, which should not wait long (1 s). */
  stopGraceMs?: number;
  ledger?: LedgerOptions;
}

type Result = ExecutionResultBody & { completed_at: string };

interface Job {
  execution: AgentExecution;
  cancelled: boolean;
  /** Killed by stop(): its result is not the command's, so the ledger keeps `running`. */
  terminated: boolean;
  proc: ShellProcess | null;
}

type ClaimOutcome = { kind: 'claimed' } | { kind: 'stopped' } | { kind: 'lost'; note: string };

/** Worth asking again: no answer, overloaded, failing, or a token a re-registration is replacing. */
const retryable = (error: unknown) => !(error instanceof ApiError) || error.transient || error.status === 401;

export class CommandRunner implements AgentFeature {
  readonly name = 'commands';
  private rt!: AgentRuntime;
  private log!: Logger;
  private ledger!: ExecutionLedger;
  private readonly abort = new AbortController();
  private stopped = false;
  /** Claimed in this process and not yet finished: where cancels are routed. */
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private readonly active = new Map<string, Job>();
  private readonly unsubscribe: (() => void)[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  private readonly maxConcurrent: number;

  constructor(private readonly options: CommandRunnerOptions = {}) {
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 8);
  }

  async start(runtime: AgentRuntime): Promise<void> {
    this.rt = runtime;
    this.log = runtime.log.child({ feature: this.name });
    const { ledger, warning } = await ExecutionLedger.open(runtime.config.dataDir, this.options.ledger);
    if (warning) this.log.warn(warning);
    this.ledger = ledger;
    if (this.stopped) return;

    const { stream } = runtime;
    const onExecution = (frame: ExecutionFrame) => void this.offer(frame.execution, 'stream');
    const onCancel = (frame: CancelExecutionFrame) => this.cancel(frame.id);
    const onOpen = () => this.poll('stream open');
    stream.on('execution', onExecution);
    stream.on('cancel_execution', onCancel);
    stream.on('open', onOpen);
    this.unsubscribe.push(
      () => stream.off('execution', onExecution),
      () => stream.off('cancel_execution', onCancel),
      () => stream.off('open', onOpen),
    );
    this.pollTimer = setInterval(() => {
      if (!this.rt.stream.isOpen) this.poll('stream down');
    }, runtime.config.executionPollIntervalMs);

    this.background(this.recover(), 'recovery');
    this.poll('start');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const off of this.unsubscribe.splice(0)) off();
    if (!this.ledger) return;
    const grace = this.options.stopGraceMs ?? 1_000;
    const running = [...this.active.values()].filter((job) => job.proc);
    for (const job of running) {
      job.terminated = true;
      job.proc!.terminate(grace);
    }
    if (running.length) {
      this.log.warn({ executions: running.map((j) => j.execution.id) }, 'agent stopping: killed running commands; the next start reports them');
      await Promise.race([Promise.all(running.map((j) => j.proc!.done)), sleep(grace + 500)]);
    }
    await this.ledger.close().catch((error) => this.log.error({ err: (error as Error).message }, 'cannot write the execution ledger'));
  }

  /** A frame or a poll brought an execution; claims it unless it was seen before. */
  private offer(execution: AgentExecution, source: string): Promise<void> | null {
    if (this.stopped || this.ledger.has(execution.id)) return null;
    this.rt.metrics.commandsSynced.inc();
    this.log.info({ execution_id: execution.id, source }, 'execution received');
    return this.background(this.claim(execution, false), 'claim');
  }

  private async claim(execution: AgentExecution, recorded: boolean): Promise<void> {
    const { id } = execution;
    const job: Job = { execution, cancelled: false, terminated: false, proc: null };
    this.jobs.set(id, job);
    if (!recorded) {
      try {
        await this.ledger.claiming(execution);
      } catch (error) {
        // Not acknowledged, so it stays pending on the server: a later push or poll retries it.
        this.log.error({ execution_id: id, err: (error as Error).message }, 'cannot record the claim; not acknowledging');
        this.jobs.delete(id);
        await this.ledger.forget(id).catch(() => {});
        return;
      }
    }
    const outcome = await this.acknowledge(id);
    if (outcome.kind === 'stopped') return; // stays `claiming`: the next start asks the server
    if (outcome.kind === 'lost') {
      this.jobs.delete(id);
      this.log.info({ execution_id: id, reason: outcome.note }, 'execution not claimed; not running it');
      await this.ledger.reported(id, outcome.note).catch(() => {});
      return;
    }
    this.enqueue(job);
  }

  private async acknowledge(id: string): Promise<ClaimOutcome> {
    const backoff = this.backoff();
    // Set once an attempt may have reached the server without its answer reaching us.
    let uncertain = false;
    for (;;) {
      if (this.stopped) return { kind: 'stopped' };
      try {
        await this.rt.api.acknowledgeExecution(id);
        return { kind: 'claimed' };
      } catch (error) {
        if (this.stopped) return { kind: 'stopped' };
        if (error instanceof ApiError && error.status === 409 && uncertain) {
          // "Not pending" may be our own earlier ack whose answer got lost: then it is ours.
          const sent = await this.isSent(id);
          if (sent === null) return { kind: 'stopped' };
          return sent ? { kind: 'claimed' } : { kind: 'lost', note: `acknowledge refused: ${error.describe()}` };
        }
        if (!retryable(error)) return { kind: 'lost', note: `acknowledge refused: ${(error as ApiError).describe()}` };
        if (!(error instanceof ApiError) || error.status === 0 || error.status === 408 || error.status >= 500) uncertain = true;
        const delay = backoff.next();
        this.log.warn({ execution_id: id, err: describe(error), retryInMs: delay }, 'acknowledge failed; retrying');
        if (!(await this.sleep(delay))) return { kind: 'stopped' };
      }
    }
  }

  /** Whether the server lists `id` as sent to this node; null when stopped first. */
  private async isSent(id: string): Promise<boolean | null> {
    const sent = await this.listAll('sent');
    return sent === null ? null : sent.some((e) => e.id === id);
  }

  /** Every page of one status, retried until it works; null when stopped first. */
  private async listAll(status: 'pending' | 'sent'): Promise<AgentExecution[] | null> {
    const backoff = this.backoff();
    for (;;) {
      if (this.stopped) return null;
      try {
        const all: AgentExecution[] = [];
        for (let page = 1; page <= 100; page++) {
          const { items, hasNext } = await this.rt.api.listExecutions(status, page);
          all.push(...items);
          if (!hasNext || items.length === 0) break;
        }
        return all;
      } catch (error) {
        if (this.stopped) return null;
        const delay = backoff.next();
        this.log.warn({ status, err: describe(error), retryInMs: delay }, 'listing executions failed; retrying');
        if (!(await this.sleep(delay))) return null;
      }
    }
  }

  private enqueue(job: Job): void {
    this.rt.metrics.commandsEnqueued.inc();
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.maxConcurrent && this.queue.length) this.launch(this.queue.shift()!);
    this.updateGauges();
  }

  private launch(job: Job): void {
    const { id } = job.execution;
    this.active.set(id, job);
    this.background(
      this.execute(job).finally(() => {
        this.active.delete(id);
        this.pump();
      }),
      'execution',
    );
  }

  private async execute(job: Job): Promise<void> {
    const e = job.execution;
    const log = this.log.child({ execution_id: e.id });
    let result: Result;
    if (job.cancelled) {
      result = completed(CANCELLED_EXIT_CODE, CANCELLED_OUTPUT);
    } else if (e.expired_at !== null && Date.parse(e.expired_at) <= Date.now()) {
      log.info({ expired_at: e.expired_at }, 'execution expired before it could start; not running it');
      result = { status: 'expired', completed_at: new Date().toISOString() };
    } else {
      if (this.stopped) return;
      try {
        await this.ledger.running(e.id);
      } catch (error) {
        // Without a durable `running` a crash could lead to a second run; not running is the safe side.
        log.error({ err: (error as Error).message }, 'cannot record the start of the execution; not running it');
        result = completed(126, `Agent could not record the execution locally (${(error as Error).message}); not run`);
        await this.finish(e.id, result);
        return;
      }
      if (this.stopped) {
        // Recorded but never started: back to `claiming`, which the next start runs if still sent.
        await this.ledger.claiming(e).catch(() => {});
        return;
      }
      if (job.cancelled) {
        result = completed(CANCELLED_EXIT_CODE, CANCELLED_OUTPUT);
      } else {
        log.info({ timeout: e.timeout }, 'running command');
        const proc = runShell(e.command_text, {
          timeoutMs: e.timeout,
          outputLimitBytes: this.rt.config.outputLimitBytes,
          killGraceMs: this.options.killGraceMs,
          env: commandEnv(),
        });
        job.proc = proc;
        const outcome = await proc.done;
        if (job.terminated) return; // the ledger keeps `running`; the next start reports it
        this.rt.metrics.commandsCompleted.inc();
        result = toResult(outcome, e);
        log.info({ exit_code: result.exit_code, end: outcome.end }, 'command finished');
      }
    }
    await this.finish(e.id, result);
  }

  private async finish(id: string, result: Result): Promise<void> {
    this.jobs.delete(id);
    try {
      await this.ledger.finished(id, result);
    } catch (error) {
      this.log.error({ execution_id: id, err: (error as Error).message }, 'cannot record the result; reporting it anyway');
    }
    this.background(this.report(id, result), 'report');
  }

  private async report(id: string, result: Result): Promise<void> {
    const backoff = this.backoff();
    for (;;) {
      if (this.stopped) return; // stays `finished`: the next start sends it
      try {
        await this.rt.api.reportExecutionResult(id, result);
      } catch (error) {
        const smaller = error instanceof ApiError && error.status === 413 ? shrinkOutput(result) : null;
        if (smaller && !this.stopped) {
          // The server's body limit is below our output limit: send a shorter tail rather than nothing.
          this.log.warn({ execution_id: id, bytes: Buffer.byteLength(smaller.output ?? '') }, 'result too large for the server; sending a shorter output tail');
          result = smaller;
          continue;
        }
        if (await this.reportFailed(id, error, backoff)) continue;
        return;
      }
      this.rt.metrics.commandsReported.inc();
      this.log.info({ execution_id: id, status: result.status, exit_code: result.exit_code }, 'result reported');
      await this.ledger.reported(id).catch(() => {});
      return;
    }
  }

  /** True to try again after the backoff; false when the result is dropped or the runner stopped. */
  private async reportFailed(id: string, error: unknown, backoff: Backoff): Promise<boolean> {
    if (this.stopped) return false;
    if (!retryable(error)) {
      // 409/404/403 and other refusals: the server will never take this result.
      const note = `result refused: ${(error as ApiError).describe()}`;
      this.log.warn({ execution_id: id, err: note }, 'result refused by the server; dropping it');
      await this.ledger.reported(id, note).catch(() => {});
      return false;
    }
    const delay = backoff.next();
    this.log.warn({ execution_id: id, err: describe(error), retryInMs: delay }, 'result report failed; retrying');
    return this.sleep(delay);
  }

  private cancel(id: string): void {
    const job = this.jobs.get(id);
    if (!job) {
      this.log.debug({ execution_id: id }, 'cancel for an execution not running here; ignored');
      return;
    }
    if (job.cancelled) return;
    job.cancelled = true;
    this.log.info({ execution_id: id }, 'cancelling execution');
    if (job.proc) {
      job.proc.cancel();
      return;
    }
    // Waiting for a slot: answer now instead of after the commands ahead of it.
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.launch(job);
    }
  }

  /**
   * After a restart: `running` entries died with the old process (reported as 137, never rerun),
   * `finished` ones are re-sent, and `claiming` ones run once if the server lists them as sent
   * (the ack went through) or are claimed again if the ack never landed.
   */
  private async recover(): Promise<void> {
    // Snapshot first: the `running` entries become `finished` below and must not be sent twice.
    const died = this.ledger.list('running');
    const unreported = this.ledger.list('finished');
    const orphans = this.ledger.list('claiming');
    for (const entry of died) {
      this.log.warn({ execution_id: entry.id }, 'command was running when the agent stopped; reporting it, not running it again');
      const result = completed(RESTARTED_EXIT_CODE, RESTARTED_OUTPUT);
      await this.ledger.finished(entry.id, result).catch((error) => this.log.error({ err: (error as Error).message }, 'cannot record the result'));
      this.background(this.report(entry.id, result), 'report');
    }
    for (const entry of unreported) {
      if (entry.result) this.background(this.report(entry.id, entry.result), 'report');
    }
    const sent = await this.listAll('sent');
    if (sent === null) return;
    const sentById = new Map(sent.map((e) => [e.id, e]));
    for (const item of sent) {
      if (!this.ledger.has(item.id)) {
        this.log.warn({ execution_id: item.id }, 'execution is marked sent to this node but was never claimed here; leaving it alone');
      }
    }
    for (const orphan of orphans) {
      if (this.ledger.get(orphan.id)?.state !== 'claiming' || this.jobs.has(orphan.id)) continue;
      const item = sentById.get(orphan.id);
      if (item) {
        this.log.info({ execution_id: orphan.id }, 'claim from before the restart went through; running it once');
        const job: Job = { execution: item, cancelled: false, terminated: false, proc: null };
        this.jobs.set(item.id, job);
        this.enqueue(job);
      } else {
        // Not sent: either still pending (the ack never landed) or gone; the ack tells which.
        this.background(this.claim(orphan.execution!, true), 'claim');
      }
    }
  }

  /** Single-flight; a trigger during a poll runs one more round after it. */
  private poll(reason: string): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = (async () => {
      do {
        this.pollAgain = false;
        try {
          await this.pollRound(reason);
        } catch (error) {
          if (!this.stopped) this.log.warn({ err: describe(error), reason }, 'execution poll failed');
        }
      } while (this.pollAgain && !this.stopped);
    })().finally(() => {
      this.polling = null;
    });
  }

  private async pollRound(reason: string): Promise<void> {
    // Claims move items out of `pending`, so after claiming a full page, page 1 holds the next ones.
    let page = 1;
    for (let round = 0; round < 100 && !this.stopped; round++) {
      const { items, hasNext } = await this.rt.api.listExecutions('pending', page);
      this.log.debug({ reason, count: items.length, page }, 'polled pending executions');
      const claims = items.map((item) => this.offer(item, 'poll')).filter((p) => p !== null);
      if (!hasNext) return;
      if (claims.length) await Promise.all(claims);
      else page++;
    }
  }

  private updateGauges(): void {
    this.rt.metrics.jobs.set({ queue: 'commands', state: 'available' }, this.queue.length);
    this.rt.metrics.jobs.set({ queue: 'commands', state: 'executing' }, this.active.size);
  }

  private backoff(): Backoff {
    return new Backoff({ initialMs: 1_000, maxMs: 30_000, ...this.options.retry });
  }

  private async sleep(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
      return true;
    } catch {
      return false;
    }
  }

  private background<T>(task: Promise<T>, what: string): Promise<void> {
    return task.then(
      () => {},
      (error) => this.log.error({ err: (error as Error).message, task: what }, 'command runner task failed'),
    );
  }
}

/**
 * A quarter of the output's tail, re-prefixed with the full omitted count; null once it is small
 * (4 KiB) and a 413 must be about something else.
 */
function shrinkOutput(result: Result): Result | null {
  const output = result.output ?? '';
  const bytes = Buffer.byteLength(output);
  if (bytes <= 4096) return null;
  const prefix = /^\[output truncated: (\d+) bytes omitted\]\n/.exec(output);
  const body = Buffer.from(prefix ? output.slice(prefix[0].length) : output);
  const total = body.length + (prefix ? Number(prefix[1]) : 0);
  return { ...result, output: renderTail(body, total, Math.floor(bytes / 4)) };
}

/**
 * The server refuses NUL in every string (Postgres text cannot hold it), yet real output has it
 * (`cat /proc/1/cmdline`): each becomes U+FFFD, the character undecodable bytes already become.
 */
const withoutNul = (output: string): string => output.replaceAll('\0', '\uFFFD');

function completed(exitCode: number, output: string): Result {
  return { status: 'completed', exit_code: exitCode, output: withoutNul(output), completed_at: new Date().toISOString() };
}

function withTrailer(output: string, line: string): string {
  return output === '' ? line : `${output}${output.endsWith('\n') ? '' : '\n'}${line}`;
}

function toResult(outcome: ShellResult, e: AgentExecution): Result {
  switch (outcome.end) {
    case 'timeout':
      // The tail it printed before the kill is what tells the operator where it hung.
      return completed(TIMEOUT_EXIT_CODE, withTrailer(outcome.output, timeoutOutput(e.timeout ?? 0)));
    case 'cancelled':
      return completed(CANCELLED_EXIT_CODE, CANCELLED_OUTPUT);
    case 'spawn_error':
      return completed(outcome.exitCode ?? 127, `Agent could not start /bin/sh: ${outcome.error ?? 'unknown error'}`);
    default:
      return completed(outcome.exitCode ?? 1, outcome.output);
  }
}

/** The agent's environment minus the enrollment key, which a command has no business seeing. */
function commandEnv(): NodeJS.ProcessEnv {
  const { NODEPLANE_ENROLLMENT_KEY: _key, ...env } = process.env;
  return env;
}

function describe(error: unknown): string {
  return error instanceof ApiError ? error.describe() : (error as Error).message;
}
