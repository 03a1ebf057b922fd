/** SQL of grants taken away (`revoked_grants`) and of the grants a node may charge. */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

export interface RevokedGrant {
  subscription_id: number;
  node_protocol_id: number;
  node_id: string;
  last_revision: number;
}

type Pair = { subscription_id: number; node_protocol_id: number };

export const grantHistoryRepo = {
  /** Each protocol's node and that node's current revision. */
  protocolRevisions(db: Db, nodeProtocolIds: number[]): Promise<Array<{ id: number; node_id: string; revision: number }>> {
    return db
      .selectFrom('node_protocols as np')
      .innerJoin('core_nodes as cn', 'cn.node_id', 'np.node_id')
      .select(['np.id', 'np.node_id', 'cn.revision'])
      .where('np.id', 'in', nodeProtocolIds)
      .execute();
  },

  /** A grant revoked again keeps only its latest revision. */
  async remember(db: Db, rows: RevokedGrant[]): Promise<void> {
    await db
      .insertInto('revoked_grants')
      .values(rows)
      .onConflict((oc) =>
        oc
          .columns(['subscription_id', 'node_protocol_id'])
          .doUpdateSet({ node_id: sql.ref('excluded.node_id'), last_revision: sql.ref('excluded.last_revision') }),
      )
      .execute();
  },

  /** Drops what these nodes have moved two revisions past. */
  async forgetOutdated(db: Db, nodeIds: string[]): Promise<void> {
    await db
      .deleteFrom('revoked_grants')
      .where('node_id', 'in', nodeIds)
      .where(({ eb, selectFrom }) =>
        eb(
          'last_revision',
          '<',
          selectFrom('core_nodes')
            .select(sql<number>`revision - 1`.as('floor'))
            .whereRef('core_nodes.node_id', '=', 'revoked_grants.node_id'),
        ),
      )
      .execute();
  },

  /** Grants the subscriptions hold now on the node's protocols. */
  currentPairs(db: Db, nodeId: string, subscriptionIds: number[]): Promise<Pair[]> {
    return db
      .selectFrom('subscription_protocols as sp')
      .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
      .select(['sp.subscription_id', 'sp.node_protocol_id'])
      .where('np.node_id', '=', nodeId)
      .where('sp.subscription_id', 'in', subscriptionIds)
      .execute();
  },

  /** Grants taken away that the node's previous revision still held. */
  previousPairs(db: Db, nodeId: string, subscriptionIds: number[]): Promise<Pair[]> {
    return db
      .selectFrom('revoked_grants as rg')
      .innerJoin('core_nodes as cn', 'cn.node_id', 'rg.node_id')
      .select(['rg.subscription_id', 'rg.node_protocol_id'])
      .where('rg.node_id', '=', nodeId)
      .where('rg.subscription_id', 'in', subscriptionIds)
      .whereRef('rg.last_revision', '>=', sql<number>`cn.revision - 1`)
      .execute();
  },
};
