/**
 * Durable jobs (see migration 0004). Producers enqueue inside their own transaction, so a job
 * exists exactly when the change that needs it committed. Workers claim due jobs with a lease
 * (Postgres: FOR UPDATE SKIP LOCKED, so instances never take the same job), run the handler, and
 * delete the row on success. A failure is retried with backoff until `max_attempts`, then the job
 * is kept as `dead` with its last error. A lease that runs out (a crashed worker) makes the job
 * claimable again, so handlers must be idempotent. Leases record their holder: an instance that
 * restarts with the same identity after a crash releases its old leases on start, so work accepted
 * just before the crash runs now rather than when the lease runs out.
 */
import type { Kysely } from 'kysely';
import { forUpdateSkipLocked } from '../db/dialect.ts';
import type { Database } from '../db/schema.ts';
import type { JobsTable } from '../db/tables/jobs.ts';
import { uuidv7 } from '../lib/ids.ts';

export interface Job<P = unknown> {
  id: string;
  queue: string;
  payload: P;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
}

/** Thrown by a handler for failures no retry can fix: the job goes straight to `dead`. */
export class PermanentJobError extends Error {}

/** Thrown by a handler to drop a job silently (e.g. its subject was deleted): nothing to do. */
export class DropJob extends Error {}

export interface QueueOptions<P> {
  handler: (job: Job<P>) => Promise<void>;
  /** Jobs of this queue run at most this many at a time per instance. */
  concurrency: number;
  /** Delay before attempt `attempt + 1`, after `attempt` failures. */
  backoffMs: (attempt: number) => number;
  leaseMs?: number;
}

export interface EnqueueOptions {
  runAt?: Date;
  maxAttempts?: number;
  dedupeKey?: string;
}

export async function enqueue(db: Kysely<Database>, queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<void> {
  await enqueueMany(db, [{ queue, payload, ...options }]);
}

export async function enqueueMany(db: Kysely<Database>, jobs: Array<{ queue: string; payload: unknown } & EnqueueOptions>): Promise<void> {
  if (jobs.length === 0) return;
  const now = new Date().toISOString();
  const rows: JobsTable[] = jobs.map((j) => ({
    id: uuidv7(),
    queue: j.queue,
    payload: JSON.stringify(j.payload),
    state: 'pending',
    run_at: (j.runAt ?? new Date()).toISOString(),
    lease_until: null,
    lease_owner: null,
    attempts: 0,
    max_attempts: j.maxAttempts ?? 3,
    last_error: null,
    dedupe_key: j.dedupeKey ?? null,
    created_at: now,
  }));
  // Bind-parameter limits: 11 columns per row.
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('jobs')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .execute();
  }
}

const DEFAULT_LEASE_MS = 60_000;

export class JobRunner {
  private readonly queues = new Map<string, QueueOptions<any>>();
  private readonly running = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Queues that may have due jobs; a claim that comes back short marks its queue drained. */
  private readonly dirty = new Set<string>();
  /** Finished job ids, deleted together in one statement. */
  private finished: string[] = [];
  private flushing: Promise<void> | null = null;

  /**
   * `owner` is this instance's persistent id. Two live processes must never share one (the second
   * would release the first's leases and jobs could run twice), which one data dir per instance
   * guarantees.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly pollMs: number,
    private readonly onError: (error: unknown, job?: Job) => void,
    private readonly owner: string,
  ) {}

  register<P>(queue: string, options: QueueOptions<P>): void {
    this.queues.set(queue, options);
    this.running.set(queue, 0);
  }

  /** Releases the leases a previous life of this instance still held, then starts polling. */
  async start(): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ lease_until: null, lease_owner: null })
      .where('lease_owner', '=', this.owner)
      .where('state', '=', 'pending')
      .execute();
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Look for due jobs now: of one queue, or of all (after a local commit that may have enqueued). */
  kick(queue?: string): void {
    if (this.stopped) return;
    if (queue === undefined) for (const name of this.queues.keys()) this.dirty.add(name);
    else this.dirty.add(queue);
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = this.poll()
      .catch((error) => this.onError(error))
      .finally(() => {
        this.polling = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when the registered queues hold no pending job (done or dead) and none runs (tests). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.polling;
      await Promise.all([...this.inFlight]);
      await this.flushing;
      const due = await this.db
        .selectFrom('jobs')
        .select('id')
        .where('state', '=', 'pending')
        .where('queue', 'in', [...this.queues.keys()])
        .limit(1)
        .executeTakeFirst();
      if (!due && this.inFlight.size === 0) return;
      if (Date.now() > deadline) throw new Error('jobs did not drain in time');
      this.kick();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await Promise.all([...this.inFlight]);
    await this.flushFinished();
  }

  private async poll(): Promise<void> {
    for (const queue of [...this.dirty]) {
      const options = this.queues.get(queue);
      if (!options) {
        this.dirty.delete(queue);
        continue;
      }
      const free = options.concurrency - (this.running.get(queue) ?? 0);
      // A full queue stays dirty: the next finished job polls it again.
      if (free <= 0) continue;
      const jobs = await this.claim(queue, free, options.leaseMs ?? DEFAULT_LEASE_MS);
      if (jobs.length < free) this.dirty.delete(queue);
      for (const job of jobs) this.run(queue, options, job);
    }
  }

  private finish(id: string): void {
    this.finished.push(id);
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushFinished());
  }

  /** Deletes every finished job in one statement (they stay leased until then, so none reruns). */
  private async flushFinished(): Promise<void> {
    const ids = this.finished;
    this.finished = [];
    this.flushing = null;
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .deleteFrom('jobs')
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()
        .catch((error) => this.onError(error));
    }
  }

  private async claim(queue: string, limit: number, leaseMs: number): Promise<Job[]> {
    return this.db.transaction().execute(async (trx) => {
      const now = new Date();
      const nowIso = now.toISOString();
      const due = await forUpdateSkipLocked(
        trx,
        trx
          .selectFrom('jobs')
          .selectAll()
          .where('state', '=', 'pending')
          .where('queue', '=', queue)
          .where('run_at', '<=', nowIso)
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', nowIso)]))
          .orderBy('run_at')
          .limit(limit),
      ).execute();
      if (due.length === 0) return [];
      await trx
        .updateTable('jobs')
        .set((eb) => ({ lease_until: new Date(now.getTime() + leaseMs).toISOString(), lease_owner: this.owner, attempts: eb('attempts', '+', 1) }))
        .where(
          'id',
          'in',
          due.map((j) => j.id),
        )
        .execute();
      return due.map((row) => ({
        id: row.id,
        queue: row.queue,
        payload: JSON.parse(row.payload),
        attempts: row.attempts + 1,
        maxAttempts: row.max_attempts,
        createdAt: row.created_at,
      }));
    });
  }

  private run(queue: string, options: QueueOptions<any>, job: Job): void {
    this.running.set(queue, (this.running.get(queue) ?? 0) + 1);
    const work = this.execute(options, job).finally(() => {
      this.running.set(queue, (this.running.get(queue) ?? 1) - 1);
      this.inFlight.delete(work);
      // A slot opened: claim more if this queue had more than we could take.
      if (this.dirty.has(queue)) this.kick(queue);
    });
    this.inFlight.add(work);
  }

  private async execute(options: QueueOptions<any>, job: Job): Promise<void> {
    try {
      await options.handler(job);
      this.finish(job.id);
    } catch (error) {
      if (error instanceof DropJob) {
        this.finish(job.id);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const dead = error instanceof PermanentJobError || job.attempts >= job.maxAttempts;
      if (!(error instanceof PermanentJobError)) this.onError(error, job);
      await this.db
        .updateTable('jobs')
        .set({
          state: dead ? 'dead' : 'pending',
          lease_until: null,
          lease_owner: null,
          last_error: message.slice(0, 2000),
          run_at: new Date(Date.now() + (dead ? 0 : options.backoffMs(job.attempts))).toISOString(),
        })
        .where('id', '=', job.id)
        .execute()
        .catch((e) => this.onError(e, job));
    }
  }
}
