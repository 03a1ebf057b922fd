/**
 * Which subscriptions a Core node may charge (specs/core-node.md §4.4). A node's usage counts for a
 * subscription only when the subscription holds a grant on the entry's node protocol in the node's
 * current or previous revision: the agent flushes counters of the revision it just left. Current
 * grants are `subscription_protocols`; a grant taken away is kept in `revoked_grants` with the last
 * revision that held it, and forgotten once the node has moved two revisions past it.
 */
import type { Kysely } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import type { Database } from '../../db/schema.ts';
import { grantHistoryRepo } from './grant-history.repo.ts';

type Db = Kysely<Database>;

/**
 * Call after the grants were removed and the nodes bumped, in the same transaction (the bump holds
 * the node rows locked, so the revisions read here are the ones this change produced).
 */
export async function rememberRemovedGrants(trx: Db, subscriptionId: number, protocolIds: number[], bumped: string[]): Promise<void> {
  if (protocolIds.length === 0) return;
  const moved = new Set(bumped);
  const nodes = new Set<string>();
  for (const part of chunks(protocolIds)) {
    const rows = await grantHistoryRepo.protocolRevisions(trx, part);
    if (rows.length === 0) continue;
    await grantHistoryRepo.remember(
      trx,
      rows.map((r) => ({
        subscription_id: subscriptionId,
        node_protocol_id: Number(r.id),
        node_id: r.node_id,
        // A removal that changed the config made a new revision; the grant lived in the one before.
        last_revision: Number(r.revision) - (moved.has(r.node_id) ? 1 : 0),
      })),
    );
    for (const r of rows) nodes.add(r.node_id);
  }
  for (const part of chunks([...nodes])) await grantHistoryRepo.forgetOutdated(trx, part);
}

/** `subscriptionId|nodeProtocolId` pairs this node may charge, among these subscriptions. */
export async function chargeablePairs(db: Db, nodeId: string, subscriptionIds: number[]): Promise<Set<string>> {
  const pairs = new Set<string>();
  for (const part of chunks(subscriptionIds)) {
    const current = await grantHistoryRepo.currentPairs(db, nodeId, part);
    const previous = await grantHistoryRepo.previousPairs(db, nodeId, part);
    for (const r of [...current, ...previous]) pairs.add(`${Number(r.subscription_id)}|${Number(r.node_protocol_id)}`);
  }
  return pairs;
}
