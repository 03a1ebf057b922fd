import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';

export class NodeMetricsService {
  constructor(readonly db: Kysely<Database>) {}
}
