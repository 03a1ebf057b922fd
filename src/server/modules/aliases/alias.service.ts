import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Naming } from '../clusters/naming.ts';

export class AliasService {
  constructor(
    readonly db: Kysely<Database>,
    readonly naming: Naming,
  ) {}
}
