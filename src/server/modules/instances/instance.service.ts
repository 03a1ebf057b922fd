/**
 * This process as an admin instance, and the admin cluster formed by every instance sharing the
 * database (DESIGN.md "Scale-out", edge-admin spec §12). Membership is a row in `instances` kept
 * fresh by a heartbeat; the metadata (capacity, degraded mode, cluster ownership) is recomputed
 * from the database on every beat and cached, so the per-request checks never touch SQL.
 */
import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Admin, AdminCluster, AdminTopologyEntry, ClusterNodeNames, EdgeClusters, MyAdminCluster } from '../../../contract/admin/admins.ts';
import { nodeScopeOf } from '../../access.ts';
import type { Config } from '../../config.ts';
import type { NodeScope } from '../../db/scope.ts';
import type { Principal } from '../../principal.ts';
import type { Database, InstanceRow } from '../../db/schema.ts';
import { DNS_LABEL } from '../../../contract/types.ts';
import { Scheduler } from '../../jobs/scheduler.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { type AdminCapacity, assignClusters, capacities, compare } from './assignment.ts';
import { AdminNaming, adminHostId, loadInstanceId } from './identity.ts';
import { instanceRepo } from './instance.repo.ts';

/**
 * Reported as the admin cluster's range. Nodeplane admins hold no address of their own (so each
 * member's `ipv4_address` is null); the range is set aside for admin-side tunnel endpoints and
 * sits in 10/8, which clusters may never use, so it cannot collide with any edge cluster's range.
 */
export const ADMIN_CLUSTER_IPV4_RANGE = '10.255.255.0/24';

/** A crashed instance stays listed as `offline` for this many TTLs before its row is deleted. */
const PRUNE_AFTER_TTLS = 10;

const MAX_ADMIN_CLUSTER_NAME = 32;

const VERSION: string = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')).version;

interface Metadata {
  /** Null until the first computation (the spec's boot state). */
  computedAt: string | null;
  computedAtMs: number;
  topology: AdminCapacity[];
  totalNodes: number;
  totalEdgeCapacity: number;
  degraded: boolean;
  weakLeader: string;
  clusterNames: Map<string, string>;
  owners: Map<string, string>;
  orphaned: string[];
  owned: string[];
}

export class InstanceService {
  readonly adminId: string;
  readonly adminName: string;
  readonly naming: AdminNaming;
  private metadata: Metadata;
  private running = false;
  /**
   * The membership lease every owned-clusters schedule rests on, so it is started and stopped with
   * the membership itself rather than from the root's table (which depends on it).
   */
  private heartbeat: Scheduler | null = null;
  private chain: Promise<void> = Promise.resolve();
  private pending: Promise<void> | null = null;

  constructor(
    readonly db: Kysely<Database>,
    readonly config: Config,
    /** Failed heartbeats; the composition root may pass its logger. */
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.naming = new AdminNaming(config.adminClusterName, config.vpnDomain);
    const clusterName = this.naming.clusterName;
    if (clusterName.length > MAX_ADMIN_CLUSTER_NAME || !new RegExp(DNS_LABEL).test(clusterName)) {
      throw new Error(`ADMIN_CLUSTER_NAME must make "${clusterName}" a DNS label of at most ${MAX_ADMIN_CLUSTER_NAME} characters`);
    }
    this.adminId = loadInstanceId(config.dataDir);
    this.adminName = this.naming.adminName(this.adminId);
    this.metadata = {
      computedAt: null,
      computedAtMs: 0,
      topology: [],
      totalNodes: 0,
      totalEdgeCapacity: 0,
      degraded: false,
      weakLeader: this.adminName,
      clusterNames: new Map(),
      owners: new Map(),
      orphaned: [],
      owned: [],
    };
  }

  /** Joins the admin cluster, computes the metadata once, then heartbeats. */
  async start(): Promise<void> {
    const now = nowIso();
    await instanceRepo.upsert(this.db, this.row(now, now));
    await this.prune();
    this.running = true;
    await this.refresh();
    // A failed beat keeps the last metadata; ownership lapses on its own once it is a TTL old.
    this.heartbeat = new Scheduler({ db: this.db, owner: this.adminId, ownedClusterIds: async () => [], onError: (_name, error) => this.onError(error) });
    this.heartbeat.add({ name: 'admins.heartbeat', scope: 'every-instance', everyMs: this.config.instanceHeartbeatMs, run: () => this.beat() });
    this.heartbeat.start();
  }

  /** Leaves cleanly: peers drop this instance at their next recomputation instead of after a TTL. */
  async stop(): Promise<void> {
    this.running = false;
    await this.heartbeat?.stop();
    this.heartbeat = null;
    await this.chain;
    await instanceRepo.delete(this.db, this.adminId);
  }

  /** True while total nodes exceed the admin cluster's edge capacity (§12.1). Reads the cache only. */
  isDegraded(): boolean {
    return this.metadata.degraded;
  }

  /**
   * Whether this instance's background sweeps cover the cluster. Nothing is owned before the first
   * computation, after stop(), or once the last computation is a TTL old: by then the peers have
   * stopped counting this instance and hand its clusters to someone else, and a cluster swept by
   * nobody for a moment is better than one swept twice.
   */
  ownsCluster(clusterId: string): boolean {
    return this.ownershipValid() && this.metadata.owners.get(clusterId) === this.adminName;
  }

  ownedClusterIds(): string[] {
    return this.ownershipValid() ? [...this.metadata.owned] : [];
  }

  /**
   * Recomputes the metadata from the database. Calls made while a computation runs share one
   * follow-up computation that starts after it, so a caller always sees state read after its call.
   */
  refresh(): Promise<void> {
    if (this.pending) return this.pending;
    const next: Promise<void> = this.chain.then(() => {
      if (this.pending === next) this.pending = null;
      return this.compute();
    });
    this.pending = next;
    this.chain = next.catch(() => {});
    return next;
  }

  async me(): Promise<Admin> {
    await this.refresh();
    const m = this.metadata;
    const self = m.topology.find((a) => a.name === this.adminName);
    const adminPeerCount = self?.adminPeerCount ?? 0;
    return {
      id: this.adminId,
      name: this.adminName,
      max_wireguard_peers: this.config.maxWireguardPeers,
      admin_peer_count: adminPeerCount,
      edge_node_capacity: this.config.maxWireguardPeers - adminPeerCount,
      erlang_node_name: this.naming.erlangNodeName(this.adminName),
      vpn_hostname: this.naming.vpnHostname(this.adminName),
      admin_cluster_name: this.naming.clusterName,
      netmaker_host_id: adminHostId(this.adminName),
      last_computed_at: toSecondPrecision(m.computedAt),
    };
  }

  async myAdminCluster(): Promise<MyAdminCluster> {
    await this.refresh();
    const m = this.metadata;
    return {
      name: this.naming.clusterName,
      total_admins: m.topology.length,
      total_nodes: m.totalNodes,
      total_edge_capacity: m.totalEdgeCapacity,
      degraded: m.degraded,
      weak_leader: m.weakLeader,
      topology: m.topology.map((a) => this.topologyEntry(a)),
    };
  }

  /** Every instance row, stale ones included as `offline` until pruned: the operator's view. */
  async adminClusters(): Promise<AdminCluster[]> {
    const rows = await instanceRepo.all(this.db);
    const cutoff = this.liveCutoff();
    const admins = rows.map((row) => ({
      name: row.name,
      vpn_hostname: this.naming.vpnHostname(row.name),
      netmaker_host_id: adminHostId(row.name),
      ipv4_address: null,
      wireguard_ip_address: null,
      wireguard_port: null,
      use_static_port: false,
      status: row.heartbeat_at >= cutoff ? ('online' as const) : ('offline' as const),
      last_checked_in: toSecondPrecision(row.heartbeat_at),
    }));
    return [{ name: this.naming.clusterName, ipv4_range: ADMIN_CLUSTER_IPV4_RANGE, admin_count: admins.length, admins }];
  }

  /**
   * `admin-<id>` → `cluster-<name>` → node names, for every live admin (those owning nothing get
   * `{}`). Admins and clusters are the fleet's shape, shown to all; node names only within scope.
   */
  async edgeClusters(principal: Principal): Promise<EdgeClusters> {
    await this.refresh();
    const m = this.metadata;
    const nodes = await this.nodeNamesByCluster(nodeScopeOf(principal));
    const result: EdgeClusters = {};
    for (const admin of m.topology) result[admin.name] = {};
    for (const clusterId of this.byClusterName([...m.owners.keys()])) {
      const owner = m.owners.get(clusterId)!;
      (result[owner] ??= {})[`cluster-${m.clusterNames.get(clusterId)}`] = nodes.get(clusterId) ?? [];
    }
    return result;
  }

  /** `cluster-<name>` → node names of every cluster no admin can fit; `{}` when all fit. */
  async orphanedClusters(principal: Principal): Promise<ClusterNodeNames> {
    await this.refresh();
    const m = this.metadata;
    if (m.orphaned.length === 0) return {};
    const nodes = await this.nodeNamesByCluster(nodeScopeOf(principal));
    const result: ClusterNodeNames = {};
    for (const clusterId of this.byClusterName(m.orphaned)) result[`cluster-${m.clusterNames.get(clusterId)}`] = nodes.get(clusterId) ?? [];
    return result;
  }

  private async beat(): Promise<void> {
    const now = nowIso();
    // The row is gone when peers pruned it while this process was paused: join again.
    if (!(await instanceRepo.heartbeat(this.db, this.adminId, now))) await instanceRepo.upsert(this.db, this.row(now, now));
    await this.prune();
    if (this.running) await this.refresh();
  }

  private async compute(): Promise<void> {
    const instances = await instanceRepo.live(this.db, this.liveCutoff());
    const clusters = await instanceRepo.clusterLoads(this.db);
    const totalNodes = await instanceRepo.countNodes(this.db);
    const topology = capacities(instances.map((i) => ({ name: i.name, maxWireguardPeers: i.max_wireguard_peers })));
    const totalEdgeCapacity = topology.reduce((sum, a) => sum + a.edgeNodeCapacity, 0);
    const { owners, orphaned } = assignClusters(
      topology,
      clusters.map((c) => ({ id: c.id, name: c.name, nodeCount: c.node_count })),
    );
    const computedAtMs = Date.now();
    this.metadata = {
      computedAt: new Date(computedAtMs).toISOString(),
      computedAtMs,
      topology,
      totalNodes,
      totalEdgeCapacity,
      degraded: totalNodes > totalEdgeCapacity,
      weakLeader: topology[0]?.name ?? this.adminName,
      clusterNames: new Map(clusters.map((c) => [c.id, c.name])),
      owners,
      orphaned,
      owned: [...owners].filter(([, owner]) => owner === this.adminName).map(([id]) => id),
    };
  }

  private async prune(): Promise<void> {
    await instanceRepo.pruneOlderThan(this.db, new Date(Date.now() - PRUNE_AFTER_TTLS * this.config.instanceTtlMs).toISOString());
  }

  private ownershipValid(): boolean {
    const m = this.metadata;
    return this.running && m.computedAt !== null && Date.now() - m.computedAtMs <= this.config.instanceTtlMs;
  }

  private liveCutoff(): string {
    return new Date(Date.now() - this.config.instanceTtlMs).toISOString();
  }

  private row(startedAt: string, heartbeatAt: string): InstanceRow {
    return {
      id: this.adminId,
      name: this.adminName,
      max_wireguard_peers: this.config.maxWireguardPeers,
      version: VERSION,
      started_at: startedAt,
      heartbeat_at: heartbeatAt,
    };
  }

  private topologyEntry(a: AdminCapacity): AdminTopologyEntry {
    return {
      name: a.name,
      vpn_hostname: this.naming.vpnHostname(a.name),
      erlang_node_name: this.naming.erlangNodeName(a.name),
      netmaker_host_id: adminHostId(a.name),
      max_wireguard_peers: a.maxWireguardPeers,
      admin_peer_count: a.adminPeerCount,
      edge_node_capacity: a.edgeNodeCapacity,
    };
  }

  private byClusterName(clusterIds: string[]): string[] {
    const names = this.metadata.clusterNames;
    return [...clusterIds].sort((a, b) => compare(names.get(a)!, names.get(b)!));
  }

  /** Clusters no admin can fit, after recomputing the assignment. */
  async orphanedClusterCount(): Promise<number> {
    await this.refresh();
    return this.metadata.orphaned.length;
  }

  private async nodeNamesByCluster(scope: NodeScope): Promise<Map<string, string[]>> {
    const byCluster = new Map<string, string[]>();
    for (const node of await instanceRepo.clusteredNodes(this.db, scope)) {
      const list = byCluster.get(node.cluster_id);
      const name = `node-${node.id}`;
      if (list) list.push(name);
      else byCluster.set(node.cluster_id, [name]);
    }
    return byCluster;
  }
}
