import type { Kysely } from 'kysely';
import type { Alias, AliasListQuery } from '../../../contract/admin/aliases.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { canTouchNode, assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { UUID_PATTERN, uuidv7 } from '../../lib/ids.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { findAllocation } from '../addresses/address-allocator.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import type { Naming } from '../clusters/naming.ts';
import { nodeRepo } from '../nodes/node.repo.ts';
import { type AliasRecord, aliasRepo } from './alias.repo.ts';

/**
 * Extra DNS names of a node inside its cluster (`node-<alias>.cluster-<c>.<domain>`). An alias
 * points at the node's VPN address, so a node gets one only once it holds an address there.
 */
export class AliasService {
  constructor(
    readonly db: Kysely<Database>,
    readonly naming: Naming,
  ) {}

  async create(principal: Principal, nodeId: string, name: string): Promise<Alias> {
    assertNodeAccess(principal, nodeId);
    const id = uuidv7();
    await this.db.transaction().execute(async (trx) => {
      const node = await nodeRepo.find(trx, nodeId);
      if (!node) throw new NotFoundError('Node');
      // `node-<uuid>` is already the hostname of the node with that id; an alias must not shadow it.
      if (UUID_PATTERN.test(name)) throw ValidationError.field('name', 'cannot be a node id');
      const allocation = await findAllocation(trx, nodeId);
      if (!allocation) throw new ConflictError('Node has not been assigned an IP address yet. It may still be enrolling in the VPN.');
      if (node.cluster_id === null || allocation.clusterId !== node.cluster_id) {
        throw new ConflictError('Node is not enrolled in the VPN network. Ensure the agent is connected and has joined the network.');
      }
      const now = nowIso();
      await aliasRepo.insert(trx, { id, name, node_id: nodeId, cluster_id: node.cluster_id, inserted_at: now, updated_at: now }).catch(rethrowTaken);
    });
    return this.get(principal, id);
  }

  async get(principal: Principal, id: string): Promise<Alias> {
    return this.render(await this.require(this.db, principal, id));
  }

  async list(principal: Principal, query: AliasListQuery): Promise<Page<Alias>> {
    const page = await aliasRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map((a) => this.render(a)), pagination: page.pagination };
  }

  async delete(principal: Principal, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.require(trx, principal, id);
      if (!(await aliasRepo.delete(trx, id))) throw new NotFoundError('Alias');
    });
  }

  /** An alias of a node outside the caller's scope does not exist for them. */
  private async require(db: Kysely<Database>, principal: Principal, id: string): Promise<AliasRecord> {
    const alias = await aliasRepo.find(db, id);
    if (!alias || !canTouchNode(principal, alias.node_id)) throw new NotFoundError('Alias');
    return alias;
  }

  private render(alias: AliasRecord): Alias {
    return {
      id: alias.id,
      name: alias.name,
      vpn_hostname: this.naming.nodeHostname(alias.name, alias.cluster_name),
      node_id: alias.node_id,
      cluster_name: alias.cluster_name,
      inserted_at: toSecondPrecision(alias.inserted_at),
      updated_at: toSecondPrecision(alias.updated_at),
    };
  }
}
