/**
 * Config revisions of Core nodes (specs/core-node.md §4.2): a change bumps the revision of exactly
 * the nodes whose rendered config it alters, in the same transaction as the change.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';

/** Re-renders the given Core nodes and bumps those whose config hash changed. Returns the bumped ids. */
export async function bumpNodes(_db: Kysely<Database>, _nodeIds: string[]): Promise<string[]> {
  return [];
}

/** The nodes that serve these subscriptions (through their granted protocols), re-rendered and bumped. */
export async function bumpForSubscriptions(_db: Kysely<Database>, _subscriptionIds: number[]): Promise<string[]> {
  return [];
}
