/**
 * Which subscriptions a Core node may charge (specs/core-node.md §4.4). A node's usage counts for a
 * subscription only when the subscription holds a grant on the entry's node protocol in the node's
 * current or previous revision: the agent flushes counters of the revision it just left. Current
 * grants are `subscription_protocols`; a grant taken away is kept in `revoked_grants` with the last
 * revision that held it, and forgotten once the node has moved two revisions past it.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { chunks } from './render-input.ts';

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
    const rows = await trx
      .selectFrom('node_protocols as np')
      .innerJoin('core_nodes as cn', 'cn.node_id', 'np.node_id')
      .select(['np.id', 'np.node_id', 'cn.revision'])
      .where('np.id', 'in', part)
      .execute();
    if (rows.length === 0) continue;
    await trx
      .insertInto('revoked_grants')
      .values(
        rows.map((r) => ({
          subscription_id: subscriptionId,
          node_protocol_id: Number(r.id),
          node_id: r.node_id,
          // A removal that changed the config made a new revision; the grant lived in the one before.
          last_revision: Number(r.revision) - (moved.has(r.node_id) ? 1 : 0),
        })),
      )
      .onConflict((oc) => oc.columns(['subscription_id', 'node_protocol_id']).doUpdateSet({ node_id: sql.ref('excluded.node_id'), last_revision: sql.ref('excluded.last_revision') }))
      .execute();
    for (const r of rows) nodes.add(r.node_id);
  }
  for (const part of chunks([...nodes])) {
    await trx
      .deleteFrom('revoked_grants')
      .where('node_id', 'in', part)
      .where(({ eb, selectFrom }) => eb('last_revision', '<', selectFrom('core_nodes').select(sql<number>`revision - 1`.as('floor')).whereRef('core_nodes.node_id', '=', 'revoked_grants.node_id')))
      .execute();
  }
}

/** `subscriptionId|nodeProtocolId` pairs this node may charge, among these subscriptions. */
export async function chargeablePairs(db: Db, nodeId: string, subscriptionIds: number[]): Promise<Set<string>> {
  const pairs = new Set<string>();
  for (const part of chunks(subscriptionIds)) {
    const current = await db
      .selectFrom('subscription_protocols as sp')
      .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
      .select(['sp.subscription_id', 'sp.node_protocol_id'])
      .where('np.node_id', '=', nodeId)
      .where('sp.subscription_id', 'in', part)
      .execute();
    const previous = await db
      .selectFrom('revoked_grants as rg')
      .innerJoin('core_nodes as cn', 'cn.node_id', 'rg.node_id')
      .select(['rg.subscription_id', 'rg.node_protocol_id'])
      .where('rg.node_id', '=', nodeId)
      .where('rg.subscription_id', 'in', part)
      .whereRef('rg.last_revision', '>=', sql<number>`cn.revision - 1`)
      .execute();
    for (const r of [...current, ...previous]) pairs.add(`${Number(r.subscription_id)}|${Number(r.node_protocol_id)}`);
  }
  return pairs;
}
