/** Extra DNS names of edge nodes: no background work. */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { Naming } from '../clusters/naming.ts';
import { AliasService } from './alias.service.ts';

export interface AliasesModuleDeps {
  db: Kysely<Database>;
  naming: Naming;
}

export function aliasesModule(deps: AliasesModuleDeps): ModuleManifest<{ aliases: AliasService }> {
  return { services: { aliases: new AliasService(deps.db, deps.naming) } };
}
