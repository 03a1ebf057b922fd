/** Reads what the renderer needs for many Core nodes in a fixed number of queries. */
import type { Kysely } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import type { Database } from '../../db/schema.ts';
import type { GrantedSubscription, RenderInput } from './render.ts';
import { revisionRepo } from './revision.repo.ts';

type Db = Kysely<Database>;

export async function loadRenderInputs(db: Db, nodeIds: string[]): Promise<Map<string, RenderInput>> {
  const inputs = new Map<string, RenderInput>();
  if (nodeIds.length === 0) return inputs;
  for (const part of chunks(nodeIds)) {
    const nodes = await revisionRepo.renderNodes(db, part);
    for (const n of nodes)
      inputs.set(n.node_id, {
        host: n.host,
        routingRules: n.routing_rules,
        allowedDestinations: n.allowed_destinations,
        protocols: [],
        grants: new Map(),
        outbounds: [],
      });
    const protocols = await revisionRepo.enabledProtocols(db, part);
    for (const p of protocols) inputs.get(p.node_id)?.protocols.push(p);
    const outbounds = await revisionRepo.outbounds(db, part);
    for (const o of outbounds) inputs.get(o.node_id)?.outbounds.push(o);

    const owner = new Map(protocols.map((p) => [p.id, inputs.get(p.node_id)!]));
    // Grants as bare id pairs, subscriptions once each: a subscription on five protocols is read once, not five times.
    const subs = new Map<number, GrantedSubscription>();
    for (const ids of chunks(protocols.map((p) => p.id))) {
      const rows = await revisionRepo.grantedSubscriptions(db, ids);
      for (const row of rows) {
        if (subs.has(Number(row.id))) continue;
        subs.set(Number(row.id), {
          id: Number(row.id),
          user_id: Number(row.user_id),
          link_uuid: row.link_uuid,
          status: row.status,
          traffic_limit_bytes: Number(row.traffic_limit_bytes),
          used_up_bytes: Number(row.used_up_bytes),
          used_down_bytes: Number(row.used_down_bytes),
          expires_at: row.expires_at,
          ss_password_enc: row.ss_password_enc,
          user_status: row.user_status,
        });
      }
      const grants = await revisionRepo.grantsOfProtocols(db, ids);
      for (const g of grants) {
        const target = owner.get(g.node_protocol_id)!.grants;
        const s = subs.get(Number(g.subscription_id))!;
        const list = target.get(g.node_protocol_id);
        if (list) list.push(s);
        else target.set(g.node_protocol_id, [s]);
      }
    }
  }
  return inputs;
}
