import type { Cluster, ClusterCreateRequest, ClusterListQuery, ClusterUpdateRequest } from '../../../contract/admin/clusters.ts';
import type { Kysely } from 'kysely';
import { nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import type { ClusterRow, Database } from '../../db/schema.ts';
import type { Page } from '../../db/listing.ts';
import { uniqueViolationColumns } from '../../db/dialect.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { type Cidr, firstOctet, formatCidr, overlaps, parseCidr, size, subnets } from '../../lib/ipv4.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { clusterRepo, type NodeSummaryRow } from './cluster.repo.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import type { Naming } from './naming.ts';

const RESERVED_NAMES = new Set(['default']);
const DENIED_FIRST_OCTETS = new Set([0, 10, 127, 169, 172, 192, 224, 240, 255]);

export interface ClusterPolicy {
  autoRanges: string[];
  subnetPrefix: number;
  /** Addresses of every range held back for admins and gateways; node_limit must leave them free. */
  slotReservation: number;
}

export class ClusterService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly naming: Naming,
    private readonly policy: ClusterPolicy,
  ) {}

  async create(principal: Principal, input: ClusterCreateRequest): Promise<Cluster> {
    const errors: Record<string, string[]> = {};
    if (RESERVED_NAMES.has(input.name)) errors.name = ['is reserved'];
    let requested: Cidr | null = null;
    if (input.ipv4_range != null) {
      requested = parseCidr(input.ipv4_range);
      if (!requested) errors.ipv4_range = ['is invalid'];
      else if (DENIED_FIRST_OCTETS.has(firstOctet(requested))) errors.ipv4_range = ['cannot use private, loopback, link-local, or multicast ranges'];
      else if (requested.prefix > 30) errors.ipv4_range = ['prefix length must be /30 or shorter'];
    }
    const limitError = requested && input.node_limit != null ? this.nodeLimitError(requested, input.node_limit) : null;
    if (limitError) errors.node_limit = [limitError];
    if (Object.keys(errors).length > 0) throw new ValidationError(errors);

    const now = nowIso();
    const row = await this.db.transaction().execute(async (trx) => {
      const existing = (await clusterRepo.allRanges(trx)).map((r) => parseCidr(r)!).filter(Boolean);
      let range = requested;
      if (range) {
        if (existing.some((e) => overlaps(e, range!))) throw new ConflictError(`${input.ipv4_range} overlaps with an existing cluster range`);
      } else {
        range = this.nextFreeRange(existing);
        if (input.node_limit != null) {
          const error = this.nodeLimitError(range, input.node_limit);
          if (error) throw ValidationError.field('node_limit', error);
        }
      }
      const cluster: ClusterRow = {
        id: uuidv7(),
        name: input.name,
        ipv4_range: formatCidr(range),
        node_limit: input.node_limit ?? null,
        inserted_at: now,
        updated_at: now,
      };
      await clusterRepo.insert(trx, cluster).catch(rethrowTaken);
      return cluster;
    });
    return (await this.render(principal, [row]))[0]!;
  }

  async get(principal: Principal, name: string): Promise<Cluster> {
    return (await this.render(principal, [await this.require(name)]))[0]!;
  }

  async list(principal: Principal, query: ClusterListQuery): Promise<Page<Cluster>> {
    const page = await clusterRepo.list(this.db, query);
    return { items: await this.render(principal, page.items), pagination: page.pagination };
  }

  async update(principal: Principal, name: string, input: ClusterUpdateRequest): Promise<Cluster> {
    const cluster = await this.require(name);
    if (input.node_limit !== undefined) {
      if (input.node_limit !== null) {
        const range = parseCidr(cluster.ipv4_range)!;
        const error = this.nodeLimitError(range, input.node_limit);
        if (error) throw ValidationError.field('node_limit', error);
        const count = await inventoryRepo.countInCluster(this.db, cluster.id);
        if (input.node_limit < count) throw ValidationError.field('node_limit', `cannot be less than current node count (${count})`);
      }
      await clusterRepo.updateNodeLimit(this.db, cluster.id, input.node_limit, nowIso());
    }
    return this.get(principal, name);
  }

  async delete(name: string): Promise<void> {
    const cluster = await this.require(name);
    await this.db.transaction().execute(async (trx) => {
      const count = await inventoryRepo.countInCluster(trx, cluster.id);
      if (count > 0) throw new ConflictError(`cannot delete cluster with ${count} node(s) - remove all nodes first`);
      await clusterRepo.delete(trx, cluster.id);
    });
  }

  async require(name: string, db: Kysely<Database> = this.db): Promise<ClusterRow> {
    const cluster = await clusterRepo.findByName(db, name);
    if (!cluster) throw new NotFoundError('Cluster');
    return cluster;
  }

  /** Largest node_limit a range can hold once the reserved slots are set aside. */
  private nodeLimitError(range: Cidr, nodeLimit: number): string | null {
    const max = size(range.prefix) - this.policy.slotReservation;
    return nodeLimit > max ? `must be less than or equal to ${Math.max(max, 0)} for a /${range.prefix} range` : null;
  }

  private nextFreeRange(existing: Cidr[]): Cidr {
    for (const poolText of this.policy.autoRanges) {
      const pool = parseCidr(poolText);
      if (!pool) continue;
      for (const candidate of subnets(pool, this.policy.subnetPrefix)) {
        if (!existing.some((e) => overlaps(e, candidate))) return candidate;
      }
    }
    throw new ConflictError('no free IPv4 range is left in the auto-generated pool');
  }

  /** `nodes` lists only the caller's nodes; `node_count` counts them all, as `node_limit` does. */
  private async render(principal: Principal, rows: ClusterRow[]): Promise<Cluster[]> {
    const ids = rows.map((r) => r.id);
    const summaries = await clusterRepo.nodeSummaries(this.db, ids, nodeScopeOf(principal));
    const counts = await clusterRepo.nodeCounts(this.db, ids);
    const byCluster = new Map<string, NodeSummaryRow[]>();
    for (const s of summaries) byCluster.set(s.cluster_id, [...(byCluster.get(s.cluster_id) ?? []), s]);
    return rows.map((row) => {
      const nodes = byCluster.get(row.id) ?? [];
      return {
        id: row.id,
        name: row.name,
        ipv4_range: row.ipv4_range,
        node_limit: row.node_limit,
        node_count: counts.get(row.id) ?? 0,
        nodes: nodes.map((n) => ({ id: n.id, status: n.status, id_type: n.id_type, vpn_hostname: this.naming.nodeHostname(n.id, row.name) })),
        network_name: this.naming.networkName(row.name),
        vpn_domain: this.naming.vpnDomain(row.name),
        inserted_at: toSecondPrecision(row.inserted_at),
        updated_at: toSecondPrecision(row.updated_at),
      };
    });
  }
}

/** Unique-constraint violations become 409 `<field> has already been taken`. */
export function rethrowTaken(error: unknown): never {
  const columns = uniqueViolationColumns(error);
  if (columns) throw new ConflictError(`${columns.at(-1) ?? 'value'} has already been taken`);
  throw error;
}
