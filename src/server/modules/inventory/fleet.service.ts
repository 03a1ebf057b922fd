/**
 * The fleet view: every node of every kind in one list, with shared statuses and labels. Renames
 * and labels are the inventory's own; deleting goes through the kind's module, which knows what
 * else the node owns (an edge node's aliases, address and live channel; a Core node's config).
 */
import type { Kysely } from 'kysely';
import type { FleetListQuery, FleetNode, FleetNodeUpdateRequest, NodeKind } from '../../../contract/admin/fleet.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import { canonicalUuid } from '../../lib/ids.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { type InventoryRecord, inventoryRepo } from './inventory.repo.ts';
import { nameError, sharedStatus } from './kinds.ts';

/** How a kind deletes one of its nodes (throws NotFoundError when it is gone). */
export type KindDeleters = Partial<Record<NodeKind, (principal: Principal, id: string) => Promise<void>>>;

export class FleetService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly deleters: KindDeleters,
  ) {}

  async list(principal: Principal, query: FleetListQuery): Promise<Page<FleetNode>> {
    const page = await inventoryRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(render), pagination: page.pagination };
  }

  async get(principal: Principal, id: string): Promise<FleetNode> {
    return render(await this.require(this.db, principal, canonicalUuid(id)));
  }

  async update(principal: Principal, id: string, input: FleetNodeUpdateRequest): Promise<FleetNode> {
    id = canonicalUuid(id);
    await this.db.transaction().execute(async (trx) => {
      const node = await this.require(trx, principal, id);
      const error = input.name === undefined ? null : nameError(node.kind, id, input.name);
      if (error) throw ValidationError.field('name', error);
      await inventoryRepo.update(trx, id, {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.labels !== undefined ? { labels: input.labels } : {}),
        updated_at: nowIso(),
      });
    });
    return this.get(principal, id);
  }

  /** A kind without its own deleter (none has rows yet) loses just its inventory row and side rows. */
  async delete(principal: Principal, id: string): Promise<void> {
    id = canonicalUuid(id);
    const node = await this.require(this.db, principal, id);
    const deleter = this.deleters[node.kind as NodeKind];
    if (deleter) await deleter(principal, id);
    else if (!(await inventoryRepo.delete(this.db, id))) throw new NotFoundError('Node');
  }

  private async require(db: Kysely<Database>, principal: Principal, id: string): Promise<InventoryRecord> {
    assertNodeAccess(principal, id);
    const node = await inventoryRepo.find(db, id);
    if (!node) throw new NotFoundError('Node');
    return node;
  }
}

function render(row: InventoryRecord): FleetNode {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    cluster_name: row.cluster_name,
    status: sharedStatus(row.kind, row.status),
    kind_status: row.status,
    last_seen_at: toSecondPrecision(row.last_seen_at),
    version: row.version,
    labels: row.labels,
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
