/**
 * Runs one shell command for the agent (command executions, the self-update command):
 * `/bin/sh -c <text>` as the leader of its own process group, so a timeout or a cancel can signal
 * the whole tree the command started (SIGTERM, then SIGKILL after a grace period). stdout and
 * stderr land in one buffer in arrival order; only the tail is kept, capped in bytes.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const MAX_TIMER_MS = 2 ** 31 - 1;

export type ShellEnd = 'exited' | 'timeout' | 'cancelled' | 'spawn_error';

export interface ShellResult {
  end: ShellEnd;
  /** The shell's exit status; 128 + n when a signal n ended it (the shell's own convention). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Combined stdout + stderr, tail kept (see renderTail). */
  output: string;
  /** Why the shell could not start (end = 'spawn_error'). */
  error?: string;
}

export interface ShellOptions {
  /** null/undefined/≤0 = no limit. */
  timeoutMs?: number | null;
  outputLimitBytes: number;
  /** SIGTERM → SIGKILL delay for timeouts and cancels (5 s). */
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * After the shell exits, how long to wait for stdout/stderr to reach EOF. A command that leaves a
   * daemon behind (`svc &`) keeps the pipes open forever; the shell's exit is what counts.
   */
  drainMs?: number;
}

export interface ShellProcess {
  readonly pid: number | undefined;
  readonly done: Promise<ShellResult>;
  /** Kills the tree (SIGTERM, SIGKILL after the grace); the result has end 'cancelled'. */
  cancel(): void;
  /** Kills the tree without deciding the result's `end` (agent shutdown); SIGKILL after `graceMs`. */
  terminate(graceMs: number): void;
}

export function runShell(command: string, options: ShellOptions): ShellProcess {
  const tail = new TailBuffer(options.outputLimitBytes);
  const grace = options.killGraceMs ?? 5_000;
  let end: ShellEnd = 'exited';
  let settle!: (result: ShellResult) => void;
  const done = new Promise<ShellResult>((resolve) => (settle = resolve));
  let settled = false;
  let timeoutTimer: NodeJS.Timeout | null = null;
  let exited = false;

  const child = spawn('/bin/sh', ['-c', command], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  };
  // The SIGKILL also reaches members that outlive the shell (a trapped TERM, a background job).
  const killTree = (graceMs: number) => {
    signalGroup('SIGTERM');
    setTimeout(() => signalGroup('SIGKILL'), graceMs).unref();
  };
  const stopWith = (reason: ShellEnd) => {
    if (settled || end !== 'exited') return;
    end = reason;
    killTree(grace);
  };

  const finish = (result: Omit<ShellResult, 'output' | 'end'>) => {
    if (settled) return;
    settled = true;
    if (timeoutTimer) clearTimeout(timeoutTimer);
    settle({ ...result, end, output: tail.render() });
  };

  child.stdout!.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
  child.on('error', (error) => {
    // spawn failures (ENOENT, EAGAIN) arrive here without an 'exit'.
    if (exited) return;
    end = 'spawn_error';
    finish({ exitCode: 127, signal: null, error: error.message });
  });
  child.on('exit', (code, signal) => {
    exited = true;
    const exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : null);
    const drain = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ exitCode, signal });
    }, options.drainMs ?? 500);
    child.once('close', () => {
      clearTimeout(drain);
      finish({ exitCode, signal });
    });
  });

  const timeoutMs = options.timeoutMs;
  // Beyond 2^31-1 ms (24.8 days) setTimeout would fire after 1 ms; such a limit means "none" in practice.
  if (typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS) {
    timeoutTimer = setTimeout(() => stopWith('timeout'), timeoutMs);
  }

  return {
    pid: child.pid,
    done,
    cancel: () => stopWith('cancelled'),
    terminate: (graceMs) => {
      if (!settled) killTree(graceMs);
    },
  };
}

/** Keeps the last `limit` bytes (plus at most one chunk) of a stream, counting everything seen. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= this.limit) {
      this.kept -= this.chunks.shift()!.length;
    }
  }

  render(): string {
    return renderTail(Buffer.concat(this.chunks), this.total, this.limit);
  }
}

/**
 * `tail` holds the last bytes of `total` produced. Within the limit it is returned whole; past it,
 * the result is `[output truncated: N bytes omitted]\n` + the newest bytes, at most `limit` bytes in
 * all. The cut moves forward to a UTF-8 character boundary, so no torn character opens the text.
 */
export function renderTail(tail: Buffer, total: number, limit: number): string {
  if (total <= limit) return tail.toString('utf8');
  let omitted = total - limit;
  let start = tail.length;
  for (;;) {
    const prefix = truncationPrefix(omitted);
    const keep = Math.max(0, Math.min(tail.length, limit - Buffer.byteLength(prefix)));
    start = tail.length - keep;
    while (start < tail.length && (tail[start]! & 0xc0) === 0x80) start++;
    // A longer count can only shorten what fits, so this settles within a step or two.
    const next = total - (tail.length - start);
    if (next === omitted) return prefix + tail.subarray(start).toString('utf8');
    omitted = next;
  }
}

export const truncationPrefix = (omitted: number) => `[output truncated: ${omitted} bytes omitted]\n`;
