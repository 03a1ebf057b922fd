/**
 * Config revisions of Core nodes (specs/core-node.md §4.2): a change bumps the revision of exactly
 * the nodes whose rendered config it alters, in the same transaction as the change. Each affected
 * node is re-rendered and its hash compared with `config_hash`, so a change that leaves the config
 * identical (a username, a usage counter below the limit) bumps nothing, and the cost of a change
 * is the cost of rendering the nodes it can affect, never the whole fleet.
 */
import type { Kysely, Transaction } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import type { Database } from '../../db/schema.ts';
import { configSignal } from './config-signal.ts';
import { loadRenderInputs } from './render-input.ts';
import { configHash, configText, renderNodeConfig } from './render.ts';
import { revisionRepo } from './revision.repo.ts';

type Db = Kysely<Database>;

const inTransaction = <T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> =>
  db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);

/** Hash of a node's config as of now; sealed secrets stand for their plaintext, so no key is needed. */
function hashOf(input: Parameters<typeof renderNodeConfig>[0], now: Date | string = new Date()): string {
  return configHash(configText(renderNodeConfig(input, now)));
}

/**
 * Re-renders the given Core nodes and bumps those whose config hash changed (revision + 1, sync
 * status pending). Rows are locked in id order first, so concurrent bumps of one node serialise and
 * the last one hashes what was committed before it. A node without a hash (rows written by hand)
 * counts as changed: nothing says what its agent holds. Returns the bumped node ids.
 */
export async function bumpNodes(db: Kysely<Database>, nodeIds: string[]): Promise<string[]> {
  const ids = [...new Set(nodeIds)].sort();
  if (ids.length === 0) return [];
  return inTransaction(db, async (trx) => {
    const bumped: string[] = [];
    const now = new Date();
    for (const part of chunks(ids)) {
      const rows = await revisionRepo.lockConfigStates(trx, part);
      const inputs = await loadRenderInputs(
        trx,
        rows.map((r) => r.node_id),
      );
      for (const row of rows) {
        const hash = hashOf(inputs.get(row.node_id)!, now);
        if (hash === row.config_hash) continue;
        await revisionRepo.bump(trx, row.node_id, hash);
        bumped.push(row.node_id);
      }
    }
    // Before commit when inside a caller's transaction: waiters re-read, and re-read again shortly.
    configSignal.notify(bumped);
    return bumped;
  });
}

/** Records the hash of a new node's config, which its revision 1 names. */
export async function hashNewNode(trx: Kysely<Database>, nodeId: string): Promise<void> {
  const input = (await loadRenderInputs(trx, [nodeId])).get(nodeId)!;
  await revisionRepo.setConfigHash(trx, nodeId, hashOf(input));
}

/** Nodes owning a node protocol granted to any of these subscriptions. */
export async function nodesOfSubscriptions(db: Kysely<Database>, subscriptionIds: number[]): Promise<string[]> {
  const nodes = new Set<string>();
  for (const part of chunks([...new Set(subscriptionIds)])) {
    for (const id of await revisionRepo.nodesOfSubscriptions(db, part)) nodes.add(id);
  }
  return [...nodes];
}

/** Nodes owning any of these node protocols. */
export async function nodesOfProtocols(db: Kysely<Database>, nodeProtocolIds: number[]): Promise<string[]> {
  const nodes = new Set<string>();
  for (const part of chunks([...new Set(nodeProtocolIds)])) {
    for (const id of await revisionRepo.nodesOfProtocols(db, part)) nodes.add(id);
  }
  return [...nodes];
}

/**
 * The nodes that serve these subscriptions (through their granted protocols), re-rendered and
 * bumped. For a change that also moves grants, collect `nodesOfSubscriptions` before it and pass
 * the union to `bumpNodes` instead.
 */
export async function bumpForSubscriptions(db: Kysely<Database>, subscriptionIds: number[]): Promise<string[]> {
  if (subscriptionIds.length === 0) return [];
  return inTransaction(db, async (trx) => bumpNodes(trx, await nodesOfSubscriptions(trx, subscriptionIds)));
}
