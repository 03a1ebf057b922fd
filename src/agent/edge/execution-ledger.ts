/**
 * The agent's memory of every execution it has touched, in `<data dir>/executions.json` (0600,
 * temp file + rename). It is what makes "never run twice" hold across restarts:
 *
 *   claiming  written before the acknowledge call; holds the execution, so a restart can run it
 *             if the server says the ack went through (status `sent`)
 *   running   written before the process is spawned; found at start it means the agent died
 *             mid-command: reported as exit 137, never run again
 *   finished  the result, written before the first report attempt; re-sent after a restart
 *   reported  terminal (result accepted, refused for good, or the claim was lost); kept as a
 *             tombstone so a late or repeated push is ignored, pruned after maxAgeMs / maxReported
 *
 * Changes apply to memory at once and are written in the background; callers await the write
 * when the next step must not happen before the disk knows (the ack, the spawn). Writes are
 * serialised and coalesced: a burst of changes costs one or two writes, never a torn file.
 */
import { readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { AgentExecution } from '../../contract/agent-stream.ts';
import type { ExecutionResultBody } from './api-client.ts';
import { ensureDataDir, writeFileAtomic } from '../shared/state.ts';

const LEDGER_FILE = 'executions.json';

export type LedgerState = 'claiming' | 'running' | 'finished' | 'reported';

export interface LedgerEntry {
  id: string;
  state: LedgerState;
  /** ISO time of the last transition (pruning age). */
  updated_at: string;
  /** claiming only: what to run if the claim turns out to have succeeded. */
  execution?: AgentExecution;
  /** finished only: what to report. */
  result?: ExecutionResultBody & { completed_at: string };
  /** reported only: why it ended without an accepted result, for whoever reads the file. */
  note?: string;
}

export interface LedgerOptions {
  /** Reported tombstones older than this are dropped (7 days). */
  maxAgeMs?: number;
  /** At most this many reported tombstones are kept, newest first (10 000). */
  maxReported?: number;
  now?: () => number;
}

export const ledgerPath = (dataDir: string) => path.join(dataDir, LEDGER_FILE);

const STATES = new Set<LedgerState>(['claiming', 'running', 'finished', 'reported']);

export class ExecutionLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly maxAgeMs: number;
  private readonly maxReported: number;
  private readonly now: () => number;
  /** The newest write, started or not; the next one chains after it. */
  private tail: Promise<void> = Promise.resolve();
  /** A write that has not taken its snapshot yet: later changes ride along with it. */
  private queued: Promise<void> | null = null;
  private closed = false;

  private constructor(
    readonly file: string,
    options: LedgerOptions,
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 7 * 24 * 3_600_000;
    this.maxReported = options.maxReported ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Loads the ledger. A file that does not parse is moved aside (`.corrupt-<time>`) and the ledger
   * starts empty: the server's pending → sent transition still guards against double runs, only
   * claims that were in flight at the crash are lost (they stay `sent` until they expire).
   */
  static async open(dataDir: string, options: LedgerOptions = {}): Promise<{ ledger: ExecutionLedger; warning: string | null }> {
    await ensureDataDir(dataDir);
    const ledger = new ExecutionLedger(ledgerPath(dataDir), options);
    let text: string;
    try {
      text = await readFile(ledger.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ledger, warning: null };
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const list = (parsed as { executions?: unknown } | undefined)?.executions;
    if (!Array.isArray(list)) {
      const aside = `${ledger.file}.corrupt-${new Date(ledger.now()).toISOString().replace(/[:.]/g, '-')}`;
      await rename(ledger.file, aside);
      return { ledger, warning: `${ledger.file} was unreadable; moved to ${aside} and started empty` };
    }
    let skipped = 0;
    for (const raw of list) {
      const entry = parseEntry(raw);
      if (entry) ledger.entries.set(entry.id, entry);
      else skipped++;
    }
    return { ledger, warning: skipped ? `${ledger.file}: ${skipped} malformed entr${skipped === 1 ? 'y' : 'ies'} ignored` : null };
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get(id: string): LedgerEntry | undefined {
    const entry = this.entries.get(id);
    return entry && { ...entry };
  }

  list(state?: LedgerState): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => state === undefined || e.state === state).map((e) => ({ ...e }));
  }

  get size(): number {
    return this.entries.size;
  }

  claiming(execution: AgentExecution): Promise<void> {
    return this.put({ id: execution.id, state: 'claiming', execution });
  }

  running(id: string): Promise<void> {
    return this.put({ id, state: 'running' });
  }

  finished(id: string, result: ExecutionResultBody & { completed_at: string }): Promise<void> {
    return this.put({ id, state: 'finished', result });
  }

  reported(id: string, note?: string): Promise<void> {
    return this.put({ id, state: 'reported', ...(note ? { note } : {}) });
  }

  /** Drops an entry that never reached the server (its claiming write failed). */
  forget(id: string): Promise<void> {
    this.entries.delete(id);
    return this.flush();
  }

  /**
   * Writes what is pending and stops writing: late answers to calls still in flight change only
   * memory, so they cannot overwrite the file of the agent that starts next.
   */
  async close(): Promise<void> {
    const last = this.flush();
    this.closed = true;
    await last;
  }

  /** Resolves once every change made so far is on disk. */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.queued) return this.queued;
    const write = this.tail
      .catch(() => {})
      .then(() => {
        this.queued = null;
        return this.writeNow();
      });
    this.queued = write;
    this.tail = write;
    return write;
  }

  private put(entry: Omit<LedgerEntry, 'updated_at'>): Promise<void> {
    this.entries.delete(entry.id); // re-insert: map order = transition order, oldest first
    this.entries.set(entry.id, { ...entry, updated_at: new Date(this.now()).toISOString() });
    return this.flush();
  }

  private prune(): void {
    const cutoff = this.now() - this.maxAgeMs;
    const reported = [...this.entries.values()].filter((e) => e.state === 'reported');
    let excess = reported.length - this.maxReported;
    for (const entry of reported) {
      if (excess > 0 || Date.parse(entry.updated_at) < cutoff) {
        this.entries.delete(entry.id);
        excess--;
      }
    }
  }

  private async writeNow(): Promise<void> {
    this.prune();
    const body = JSON.stringify({ version: 1, executions: [...this.entries.values()] });
    await writeFileAtomic(this.file, `${body}\n`, 0o600);
  }
}

function parseEntry(raw: unknown): LedgerEntry | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const e = raw as Record<string, unknown>;
  if (typeof e.id !== 'string' || !e.id || !STATES.has(e.state as LedgerState) || typeof e.updated_at !== 'string') return null;
  const entry: LedgerEntry = { id: e.id, state: e.state as LedgerState, updated_at: e.updated_at };
  if (entry.state === 'claiming') {
    const x = e.execution as Record<string, unknown> | undefined;
    if (typeof x !== 'object' || x === null || typeof x.command_text !== 'string') return null;
    entry.execution = {
      id: entry.id,
      command_id: typeof x.command_id === 'string' ? x.command_id : '',
      command_text: x.command_text,
      timeout: typeof x.timeout === 'number' ? x.timeout : null,
      expired_at: typeof x.expired_at === 'string' ? x.expired_at : null,
      status: typeof x.status === 'string' ? x.status : 'pending',
      inserted_at: typeof x.inserted_at === 'string' ? x.inserted_at : '',
    };
  }
  if (entry.state === 'finished') {
    const r = e.result as Record<string, unknown> | undefined;
    if (typeof r !== 'object' || r === null || (r.status !== 'completed' && r.status !== 'expired') || typeof r.completed_at !== 'string') return null;
    entry.result = {
      status: r.status,
      completed_at: r.completed_at,
      ...(typeof r.output === 'string' ? { output: r.output } : {}),
      ...(typeof r.exit_code === 'number' ? { exit_code: r.exit_code } : {}),
    };
  }
  if (typeof e.note === 'string') entry.note = e.note;
  return entry;
}
