/**
 * Every periodic background pass of the server runs here, on one timer per schedule. A schedule
 * declares where it runs:
 * - `every-instance`: each instance runs it (its own membership heartbeat, its own caches);
 * - `owned-clusters`: each instance runs it for the clusters the admin-cluster assignment gives it
 *   (modules/instances/assignment.ts), so two instances never sweep the same cluster; skipped while it
 *   owns none;
 * - `once-in-fleet`: exactly one instance runs each tick. Ticks are aligned to the wall clock
 *   (tick k covers [k·every, (k+1)·every)); the pass's row in the job table holds the start of the
 *   next tick as `run_at`, and the instance whose conditional UPDATE moves it forward owns the tick.
 *   On Postgres a concurrent UPDATE re-checks the condition after the row lock, on SQLite writes are
 *   serial, so one instance wins on both. The row is queue `schedule`, which no worker polls.
 * A pass never overlaps itself on one instance: a tick that finds it still running is skipped.
 * Errors are reported and the schedule carries on; stop() waits for running passes.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { uuidv7 } from '../lib/ids.ts';

export type ScheduleScope = 'every-instance' | 'owned-clusters' | 'once-in-fleet';

interface ScheduleBase {
  /** Unique in the server; once-in-fleet names are shared by every instance, so keep them stable. */
  name: string;
  everyMs: number;
}

export type Schedule =
  | (ScheduleBase & { scope: 'every-instance' | 'once-in-fleet'; run(): Promise<unknown> })
  | (ScheduleBase & { scope: 'owned-clusters'; run(clusterIds: string[]): Promise<unknown> });

export interface SchedulerDeps {
  db: Kysely<Database>;
  /** This instance's persistent id: recorded as the holder of the once-in-fleet ticks it ran. */
  owner: string;
  /** The clusters this instance owns, from a fresh assignment (so new clusters are covered). */
  ownedClusterIds(): Promise<string[]>;
  onError(schedule: string, error: unknown): void;
  /** Milliseconds since the epoch (tests move it to the next tick). */
  now?: () => number;
}

export const SCHEDULE_QUEUE = 'schedule';

export class Scheduler {
  private readonly schedules = new Map<string, Schedule>();
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** once-in-fleet passes whose row is known to exist. */
  private readonly rows = new Set<string>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.now = deps.now ?? Date.now;
  }

  add(schedule: Schedule): void {
    if (this.schedules.has(schedule.name)) throw new Error(`schedule ${schedule.name} is added twice`);
    if (!Number.isInteger(schedule.everyMs) || schedule.everyMs <= 0) throw new Error(`schedule ${schedule.name}: everyMs must be a positive integer`);
    this.schedules.set(schedule.name, schedule);
  }

  /** What runs in the background, for logs and tests. */
  list(): Array<{ name: string; scope: ScheduleScope; everyMs: number }> {
    return [...this.schedules.values()].map(({ name, scope, everyMs }) => ({ name, scope, everyMs }));
  }

  start(): void {
    this.stopped = false;
    for (const { name, everyMs } of this.schedules.values()) {
      const timer = setInterval(() => void this.tick(name), everyMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all([...this.running.values()]);
  }

  /**
   * One tick of the schedule, now. Resolves true when this instance ran the pass, false when its
   * scope gave it nothing to do (another instance took the tick, no owned cluster) or it failed. A
   * tick while the pass runs shares that pass.
   */
  tick(name: string): Promise<boolean> {
    const schedule = this.schedules.get(name);
    if (!schedule) throw new Error(`no schedule named ${name}`);
    const current = this.running.get(name);
    if (current) return current;
    const pass = this.pass(schedule)
      .catch((error) => {
        if (!this.stopped) this.deps.onError(name, error);
        return false;
      })
      .finally(() => this.running.delete(name));
    this.running.set(name, pass);
    return pass;
  }

  private async pass(schedule: Schedule): Promise<boolean> {
    switch (schedule.scope) {
      case 'every-instance':
        await schedule.run();
        return true;
      case 'owned-clusters': {
        const clusterIds = await this.deps.ownedClusterIds();
        if (clusterIds.length === 0) return false;
        await schedule.run(clusterIds);
        return true;
      }
      case 'once-in-fleet':
        if (!(await this.claimTick(schedule))) return false;
        await schedule.run();
        return true;
    }
  }

  private async claimTick({ name, everyMs }: Schedule): Promise<boolean> {
    const key = `${SCHEDULE_QUEUE}:${name}`;
    const now = this.now();
    if (!this.rows.has(name)) {
      await this.deps.db
        .insertInto('jobs')
        .values({
          id: uuidv7(),
          queue: SCHEDULE_QUEUE,
          payload: JSON.stringify({ schedule: name }),
          state: 'pending',
          run_at: new Date(0).toISOString(),
          lease_until: null,
          lease_owner: null,
          attempts: 0,
          max_attempts: 1,
          last_error: null,
          dedupe_key: key,
          created_at: new Date(now).toISOString(),
        })
        .onConflict((oc) => oc.column('dedupe_key').doNothing())
        .execute();
      this.rows.add(name);
    }
    const nextTick = (Math.floor(now / everyMs) + 1) * everyMs;
    const claimed = await this.deps.db
      .updateTable('jobs')
      .set({ run_at: new Date(nextTick).toISOString(), lease_owner: this.deps.owner })
      .where('dedupe_key', '=', key)
      .where('run_at', '<=', new Date(now).toISOString())
      .executeTakeFirst();
    return Number(claimed.numUpdatedRows) === 1;
  }
}
