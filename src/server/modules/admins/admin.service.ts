import type { Kysely } from 'kysely';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/schema.ts';

export class AdminService {
  constructor(
    readonly db: Kysely<Database>,
    readonly config: Config,
  ) {}

  /** True while total nodes exceed the admin cluster's edge capacity (§12.1). */
  isDegraded(): boolean {
    return false;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
