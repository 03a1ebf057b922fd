/** Node protocols (inbounds): CRUD, each change re-rendering only its own node. */
import { type Kysely, sql } from 'kysely';
import type { NodeProtocol, NodeProtocolCreateRequest, NodeProtocolListQuery, NodeProtocolUpdateRequest } from '../../../contract/admin/vpn-protocols.ts';
import { forUpdate } from '../../db/dialect.ts';
import { equals, type Filter, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { nowIso } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { coreNodeRepo } from './core-node.repo.ts';
import { buildProtocol, type ProtocolRow, renderProtocol } from './protocol-spec.ts';
import { bumpNodes } from './revisions.ts';

type Db = Kysely<Database>;

const subscriptionCount = sql<number>`(select count(*) from subscription_protocols sp where sp.node_protocol_id = node_protocols.id)`;

const protocolFilters: Record<string, Filter> = {
  node_id: equals('node_protocols.node_id'),
  protocol: textFilter('node_protocols.protocol'),
  transport: textFilter('node_protocols.transport'),
  security: textFilter('node_protocols.security'),
  port: equals('node_protocols.port'),
  enabled: equals('node_protocols.enabled', (v: boolean) => (v ? 1 : 0)),
  subscription_id: (eb, v: number) =>
    eb.exists(eb.selectFrom('subscription_protocols as sp').select('sp.node_protocol_id').whereRef('sp.node_protocol_id', '=', 'node_protocols.id').where('sp.subscription_id', '=', v)),
  ...timestampFilters('node_protocols'),
};

const protocols = (db: Db) => db.selectFrom('node_protocols').selectAll('node_protocols').select(subscriptionCount.as('subscription_count'));

export class ProtocolService {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  async create(input: NodeProtocolCreateRequest): Promise<NodeProtocol> {
    const built = buildProtocol(input, null, this.secrets);
    if ('errors' in built) throw new ValidationError(built.errors);
    const id = await this.db.transaction().execute(async (trx) => {
      if (!(await coreNodeRepo.lock(trx, input.node_id))) throw ValidationError.field('node_id', 'does not exist');
      if (input.protocol === 'mtproto' && built.fields.enabled === 1) await this.assertSingleMtproto(trx, input.node_id, null);
      const now = nowIso();
      const row = await trx
        .insertInto('node_protocols')
        .values({ ...built.fields, node_id: input.node_id, inserted_at: now, updated_at: now })
        .returning('id')
        .executeTakeFirstOrThrow()
        .catch(rethrowTaken);
      await bumpNodes(trx, [input.node_id]);
      return Number(row.id);
    });
    return this.get(id);
  }

  async get(id: number): Promise<NodeProtocol> {
    const row = await protocols(this.db).where('node_protocols.id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError('Node protocol');
    return renderProtocol(row as ProtocolRow & { subscription_count: number });
  }

  async list(query: NodeProtocolListQuery): Promise<Page<NodeProtocol>> {
    const page = await paginate(protocols(this.db), query, {
      filters: protocolFilters,
      sortable: {
        id: 'node_protocols.id',
        node_id: 'node_protocols.node_id',
        protocol: 'node_protocols.protocol',
        port: 'node_protocols.port',
        inserted_at: 'node_protocols.inserted_at',
        updated_at: 'node_protocols.updated_at',
      },
      tieBreaker: 'node_protocols.id',
      defaultOrder: { column: 'node_protocols.id', direction: 'asc' },
    });
    return { items: (page.items as Array<ProtocolRow & { subscription_count: number }>).map(renderProtocol), pagination: page.pagination };
  }

  async update(id: number, input: NodeProtocolUpdateRequest): Promise<NodeProtocol> {
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, id);
      const built = buildProtocol(input, prev, this.secrets);
      if ('errors' in built) throw new ValidationError(built.errors);
      if (prev.protocol === 'mtproto' && built.fields.enabled === 1) await this.assertSingleMtproto(trx, prev.node_id, id);
      await trx
        .updateTable('node_protocols')
        .set({ ...built.fields, updated_at: nowIso() })
        .where('id', '=', id)
        .execute()
        .catch(rethrowTaken);
      await bumpNodes(trx, [prev.node_id]);
    });
    return this.get(id);
  }

  /** Deleting an inbound drops its grants; usage rows recorded against it stay. */
  async delete(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const prev = await this.lock(trx, id);
      await trx.deleteFrom('node_protocols').where('id', '=', id).execute();
      await bumpNodes(trx, [prev.node_id]);
    });
  }

  private async lock(trx: Db, id: number): Promise<ProtocolRow> {
    const row = await forUpdate(trx, trx.selectFrom('node_protocols').selectAll().where('id', '=', id)).executeTakeFirst();
    if (!row) throw new NotFoundError('Node protocol');
    return row;
  }

  /** One telemt instance per node: its users share one port and one set of Fake-TLS domains (§3.2). */
  private async assertSingleMtproto(trx: Db, nodeId: string, exceptId: number | null): Promise<void> {
    let q = trx.selectFrom('node_protocols').select('id').where('node_id', '=', nodeId).where('protocol', '=', 'mtproto').where('enabled', '=', 1);
    if (exceptId !== null) q = q.where('id', '!=', exceptId);
    if (await q.executeTakeFirst()) throw new ConflictError('the node already has an enabled mtproto protocol (one telemt instance per node)');
  }
}
