/** Row types of the job table (webhook delivery, sweeps, pruning). */

export interface JobsTable {
  id: string;
  queue: string;
  payload: string;
  /** `pending` until done (then deleted) or out of attempts (`dead`, kept for inspection). */
  state: 'pending' | 'dead';
  run_at: string;
  lease_until: string | null;
  /** Instance id of the lease holder (see JobRunner.start). */
  lease_owner: string | null;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  /** At most one live job per key (e.g. one delivery per webhook × event). */
  dedupe_key: string | null;
  created_at: string;
}

export interface JobTables {
  jobs: JobsTable;
}
