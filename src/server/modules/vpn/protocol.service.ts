/**
 * Node protocols (inbounds): CRUD, each change re-rendering only its own node. A protocol belongs
 * to its Core node: outside the caller's node scope it does not exist for them.
 */
import type { Kysely } from 'kysely';
import { canTouchNode, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import type { NodeProtocol, NodeProtocolCreateRequest, NodeProtocolListQuery, NodeProtocolUpdateRequest } from '../../../contract/admin/vpn-protocols.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { nowIso } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { coreNodeRepo } from './core-node.repo.ts';
import { buildProtocol, type ProtocolRow, renderProtocol } from './protocol-spec.ts';
import { protocolRepo } from './protocol.repo.ts';
import { bumpNodes } from './revisions.ts';

type Db = Kysely<Database>;

export class ProtocolService {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  async create(principal: Principal, input: NodeProtocolCreateRequest): Promise<NodeProtocol> {
    const built = buildProtocol(input, null, this.secrets);
    if ('errors' in built) throw new ValidationError(built.errors);
    const id = await this.db.transaction().execute(async (trx) => {
      // A node outside the scope gets the answer a missing one gets, so ids cannot be probed.
      if (!canTouchNode(principal, input.node_id) || !(await coreNodeRepo.lock(trx, input.node_id))) throw ValidationError.field('node_id', 'does not exist');
      if (input.protocol === 'mtproto' && built.fields.enabled === 1) await this.assertSingleMtproto(trx, input.node_id, null);
      const now = nowIso();
      const id = await protocolRepo.insert(trx, { ...built.fields, node_id: input.node_id, inserted_at: now, updated_at: now }).catch(rethrowTaken);
      await bumpNodes(trx, [input.node_id]);
      return id;
    });
    return this.get(principal, id);
  }

  async get(principal: Principal, id: number): Promise<NodeProtocol> {
    const row = await protocolRepo.findById(this.db, id);
    if (!row || !canTouchNode(principal, row.node_id)) throw new NotFoundError('Node protocol');
    return renderProtocol(row);
  }

  async list(principal: Principal, query: NodeProtocolListQuery): Promise<Page<NodeProtocol>> {
    const page = await protocolRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(renderProtocol), pagination: page.pagination };
  }

  async update(principal: Principal, id: number, input: NodeProtocolUpdateRequest): Promise<NodeProtocol> {
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, principal, id);
      const built = buildProtocol(input, prev, this.secrets);
      if ('errors' in built) throw new ValidationError(built.errors);
      if (prev.protocol === 'mtproto' && built.fields.enabled === 1) await this.assertSingleMtproto(trx, prev.node_id, id);
      await protocolRepo.update(trx, id, { ...built.fields, updated_at: nowIso() }).catch(rethrowTaken);
      await bumpNodes(trx, [prev.node_id]);
    });
    return this.get(principal, id);
  }

  /** Deleting an inbound drops its grants; usage rows recorded against it stay. */
  async delete(principal: Principal, id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, principal, id);
      await protocolRepo.delete(trx, id);
      await bumpNodes(trx, [prev.node_id]);
    });
  }

  private async lock(trx: Db, principal: Principal, id: number): Promise<ProtocolRow> {
    const row = await protocolRepo.lockById(trx, id);
    if (!row || !canTouchNode(principal, row.node_id)) throw new NotFoundError('Node protocol');
    return row;
  }

  /** One telemt instance per node: its users share one port and one set of Fake-TLS domains (§3.2). */
  private async assertSingleMtproto(trx: Db, nodeId: string, exceptId: number | null): Promise<void> {
    if (await protocolRepo.findEnabledMtproto(trx, nodeId, exceptId))
      throw new ConflictError('the node already has an enabled mtproto protocol (one telemt instance per node)');
  }
}
