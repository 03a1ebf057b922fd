/**
 * Node outbounds: Xray egress routes beyond `direct` and `block`, with the traffic counters the
 * node reports. An outbound that a routing rule names cannot be renamed or deleted until the rule
 * goes: a rule pointing nowhere would make Xray refuse the whole config. Outside the caller's
 * node scope an outbound does not exist for them.
 */
import type { Kysely } from 'kysely';
import { canTouchNode, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import type { NodeOutbound, NodeOutboundCreateRequest, NodeOutboundListQuery, NodeOutboundUpdateRequest } from '../../../contract/admin/vpn-outbounds.ts';
import type { RoutingRule } from '../../../contract/admin/vpn-nodes.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { coreNodeRepo } from './core-node.repo.ts';
import { type OutboundRow, outboundRepo } from './outbound.repo.ts';
import { sortKeys } from './render.ts';
import { bumpNodes } from './revisions.ts';

type Db = Kysely<Database>;

/** Tags Core renders itself: the built-in outbounds, the agent's API, and inbound tags. */
const isReservedTag = (tag: string): boolean => ['direct', 'block', 'api'].includes(tag.toLowerCase()) || /^np-/i.test(tag);

const canonical = (value: object | undefined): string => JSON.stringify(sortKeys(value ?? {}));

export class OutboundService {
  constructor(private readonly db: Db) {}

  async create(principal: Principal, input: NodeOutboundCreateRequest): Promise<NodeOutbound> {
    if (isReservedTag(input.tag)) throw ValidationError.field('tag', 'is reserved');
    const id = await this.db.transaction().execute(async (trx) => {
      // A node outside the scope gets the answer a missing one gets, so ids cannot be probed.
      if (!canTouchNode(principal, input.node_id) || !(await coreNodeRepo.lock(trx, input.node_id))) throw ValidationError.field('node_id', 'does not exist');
      const now = nowIso();
      const id = await outboundRepo
        .insert(trx, {
          node_id: input.node_id,
          tag: input.tag,
          protocol: input.protocol,
          settings: canonical(input.settings),
          stream_settings: canonical(input.stream_settings),
          traffic_bytes_up: 0,
          traffic_bytes_down: 0,
          inserted_at: now,
          updated_at: now,
        })
        .catch(rethrowTaken);
      await bumpNodes(trx, [input.node_id]);
      return id;
    });
    return this.get(principal, id);
  }

  async get(principal: Principal, id: number): Promise<NodeOutbound> {
    const row = await outboundRepo.findById(this.db, id);
    if (!row || !canTouchNode(principal, row.node_id)) throw new NotFoundError('Node outbound');
    return render(row);
  }

  async list(principal: Principal, query: NodeOutboundListQuery): Promise<Page<NodeOutbound>> {
    const page = await outboundRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(render), pagination: page.pagination };
  }

  async update(principal: Principal, id: number, input: NodeOutboundUpdateRequest): Promise<NodeOutbound> {
    if (input.tag !== undefined && isReservedTag(input.tag)) throw ValidationError.field('tag', 'is reserved');
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, principal, id);
      if (input.tag !== undefined && input.tag !== prev.tag) await assertUnreferenced(trx, prev);
      await outboundRepo
        .update(trx, id, {
          ...(input.tag !== undefined ? { tag: input.tag } : {}),
          ...(input.protocol !== undefined ? { protocol: input.protocol } : {}),
          ...(input.settings !== undefined ? { settings: canonical(input.settings) } : {}),
          ...(input.stream_settings !== undefined ? { stream_settings: canonical(input.stream_settings) } : {}),
          updated_at: nowIso(),
        })
        .catch(rethrowTaken);
      await bumpNodes(trx, [prev.node_id]);
    });
    return this.get(principal, id);
  }

  async delete(principal: Principal, id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, principal, id);
      await assertUnreferenced(trx, prev);
      await outboundRepo.delete(trx, id);
      await bumpNodes(trx, [prev.node_id]);
    });
  }

  /** Locks the node first, then the outbound: the order every node-level change takes. */
  private async lock(trx: Db, principal: Principal, id: number): Promise<OutboundRow> {
    const peek = await outboundRepo.findNodeId(trx, id);
    if (!peek || !canTouchNode(principal, peek.node_id)) throw new NotFoundError('Node outbound');
    await coreNodeRepo.lock(trx, peek.node_id);
    const row = await outboundRepo.lockById(trx, id);
    if (!row) throw new NotFoundError('Node outbound');
    return row;
  }
}

async function assertUnreferenced(trx: Db, outbound: OutboundRow): Promise<void> {
  const node = await outboundRepo.routingRulesOf(trx, outbound.node_id);
  const rules = JSON.parse(node?.routing_rules ?? '[]') as RoutingRule[];
  if (rules.some((r) => r.outbound_tag === outbound.tag)) throw new ConflictError(`outbound ${outbound.tag} is used by the node's routing rules`);
}

function render(row: OutboundRow): NodeOutbound {
  return {
    id: Number(row.id),
    node_id: row.node_id,
    tag: row.tag,
    protocol: row.protocol,
    settings: JSON.parse(row.settings),
    stream_settings: JSON.parse(row.stream_settings),
    traffic_bytes_up: Number(row.traffic_bytes_up),
    traffic_bytes_down: Number(row.traffic_bytes_down),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
