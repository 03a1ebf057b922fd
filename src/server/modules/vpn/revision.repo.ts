/**
 * SQL of Core nodes' config revisions (`core_nodes.revision`, `config_hash`, `sync_status`) and of
 * what their configs render from (node protocols, outbounds, granted subscriptions).
 */
import type { Kysely } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

export const revisionRepo = {
  /** Locks the nodes' rows in id order, so concurrent bumps of one node serialise. */
  lockConfigStates(db: Db, nodeIds: string[]): Promise<Array<{ node_id: string; config_hash: string | null }>> {
    return forUpdate(db, db.selectFrom('core_nodes').select(['node_id', 'config_hash']).where('node_id', 'in', nodeIds).orderBy('node_id')).execute();
  },

  lockConfigState(db: Db, nodeId: string): Promise<{ revision: number; config_hash: string | null } | undefined> {
    return forUpdate(db, db.selectFrom('core_nodes').select(['revision', 'config_hash']).where('node_id', '=', nodeId)).executeTakeFirst();
  },

  configState(db: Db, nodeId: string): Promise<{ revision: number; config_hash: string | null } | undefined> {
    return db.selectFrom('core_nodes').select(['revision', 'config_hash']).where('node_id', '=', nodeId).executeTakeFirst();
  },

  /** revision + 1 with the new hash; the node has to sync it. */
  async bump(db: Db, nodeId: string, hash: string): Promise<void> {
    await db
      .updateTable('core_nodes')
      .set((eb) => ({ revision: eb('revision', '+', 1), config_hash: hash, sync_status: 'pending' }))
      .where('node_id', '=', nodeId)
      .execute();
  },

  async setRevision(db: Db, nodeId: string, revision: number, hash: string): Promise<void> {
    await db.updateTable('core_nodes').set({ revision, config_hash: hash, sync_status: 'pending' }).where('node_id', '=', nodeId).execute();
  },

  async setConfigHash(db: Db, nodeId: string, hash: string): Promise<void> {
    await db.updateTable('core_nodes').set({ config_hash: hash }).where('node_id', '=', nodeId).execute();
  },

  /** Distinct nodes owning a node protocol granted to any of these subscriptions. */
  async nodesOfSubscriptions(db: Db, subscriptionIds: number[]): Promise<string[]> {
    const rows = await db
      .selectFrom('subscription_protocols as sp')
      .innerJoin('node_protocols as np', 'np.id', 'sp.node_protocol_id')
      .select('np.node_id')
      .distinct()
      .where('sp.subscription_id', 'in', subscriptionIds)
      .execute();
    return rows.map((r) => r.node_id);
  },

  /** Distinct nodes owning any of these node protocols. */
  async nodesOfProtocols(db: Db, nodeProtocolIds: number[]): Promise<string[]> {
    const rows = await db.selectFrom('node_protocols').select('node_id').distinct().where('id', 'in', nodeProtocolIds).execute();
    return rows.map((r) => r.node_id);
  },

  // ── What a config renders from ──────────────────────────────────────────────────────────────

  renderNodes(db: Db, nodeIds: string[]) {
    return db.selectFrom('core_nodes').select(['node_id', 'host', 'routing_rules', 'allowed_destinations']).where('node_id', 'in', nodeIds).execute();
  },

  enabledProtocols(db: Db, nodeIds: string[]) {
    return db.selectFrom('node_protocols').selectAll().where('node_id', 'in', nodeIds).where('enabled', '=', 1).orderBy('id').execute();
  },

  outbounds(db: Db, nodeIds: string[]) {
    return db.selectFrom('node_outbounds').selectAll().where('node_id', 'in', nodeIds).orderBy('id').execute();
  },

  /** Each subscription granted any of these protocols once, with its user's status. */
  grantedSubscriptions(db: Db, nodeProtocolIds: number[]) {
    return db
      .selectFrom('vpn_subscriptions as s')
      .innerJoin('vpn_users as u', 'u.id', 's.user_id')
      .select([
        's.id',
        's.user_id',
        's.link_uuid',
        's.status',
        's.traffic_limit_bytes',
        's.used_up_bytes',
        's.used_down_bytes',
        's.expires_at',
        's.ss_password_enc',
        'u.status as user_status',
      ])
      .where('s.id', 'in', (eb) => eb.selectFrom('subscription_protocols').select('subscription_id').where('node_protocol_id', 'in', nodeProtocolIds))
      .execute();
  },

  /** Grants of these protocols as bare id pairs. */
  grantsOfProtocols(db: Db, nodeProtocolIds: number[]) {
    return db
      .selectFrom('subscription_protocols')
      .select(['node_protocol_id', 'subscription_id'])
      .where('node_protocol_id', 'in', nodeProtocolIds)
      .orderBy('node_protocol_id')
      .orderBy('subscription_id')
      .execute();
  },
};
