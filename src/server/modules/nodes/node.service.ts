import type { Kysely, Transaction } from 'kysely';
import type { ChangeClusterRequest, Node, NodeListQuery, NodeStatus } from '../../../contract/admin/nodes.ts';
import type { Registration, RegistrationRequest } from '../../../contract/agents/nodes.ts';
import { uniqueViolationColumns } from '../../db/dialect.ts';
import type { Page } from '../../db/listing.ts';
import type { ClusterRow, Database } from '../../db/schema.ts';
import type { Emit, Outbox } from '../../events/outbox.ts';
import { assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { constantTimeEqual, randomToken, type SecretBox, tokenHash } from '../../lib/secrets.ts';
import { canonicalUuid } from '../../lib/ids.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { AddressAllocator } from '../addresses/address-allocator.ts';
import { type AliasRecord, aliasRepo } from '../aliases/alias.repo.ts';
import { clusterRepo } from '../clusters/cluster.repo.ts';
import { joinTicketRepo } from '../enrollment-keys/join-ticket.repo.ts';
import type { Naming } from '../clusters/naming.ts';
import { LastSeenBuffer } from './last-seen.buffer.ts';
import { StatusDebounce } from './status-debounce.ts';
import { type AgentSession, AgentSessions } from './agent-sessions.ts';
import { edgeNodeEventData } from './node-events.ts';
import { assertRoomFor } from '../inventory/capacity.ts';
import { type InventoryChange, inventoryRepo } from '../inventory/inventory.repo.ts';
import { EDGE_AGENT_KIND } from '../inventory/kinds.ts';
import { type EdgeNodeRecord, nodeRepo } from './node.repo.ts';

export interface RegistrationPolicy {
  adminUrls: () => string[];
  derpMapUrl: string | null;
  /** Hosts at the start of every cluster range that nodes never get (ADMIN_SLOT_RESERVATION). */
  addressReservation: number;
  /** At most one agent-reported `status_changed` per node per this many ms (see StatusDebounce). */
  statusDebounceMs: number;
  /** Background failures (the last-seen flush, held statuses) have no caller to throw to. */
  onError?: (error: unknown) => void;
}

const LAST_SEEN_FLUSH_MS = 1000;
/** How long another instance's token rotation may take to reach this one's cache. */
const SESSION_TTL_MS = 10_000;

type Db = Kysely<Database>;

/**
 * Edge agents in the inventory: the Admin API's node operations, agent registration and the
 * agent's health reports. Nodes of other kinds share the `nodes` table but not these rules.
 */
export class NodeService {
  private readonly allocator: AddressAllocator;
  private readonly lastSeen: LastSeenBuffer;
  private readonly sessions: AgentSessions;
  private readonly statuses: StatusDebounce;
  private readonly revokedListeners: Array<(nodeId: string, keepTokenHash: string | null) => void> = [];

  constructor(
    readonly db: Kysely<Database>,
    readonly outbox: Outbox,
    readonly naming: Naming,
    readonly secrets: SecretBox,
    readonly policy: RegistrationPolicy,
  ) {
    this.allocator = new AddressAllocator(policy.addressReservation);
    this.lastSeen = new LastSeenBuffer((seen) => inventoryRepo.touchMany(this.db, seen), LAST_SEEN_FLUSH_MS, policy.onError ?? (() => {}));
    this.statuses = new StatusDebounce(
      policy.statusDebounceMs,
      (nodeId, status, seenAt) => this.markStatus(nodeId, status as NodeStatus, seenAt),
      policy.onError ?? (() => {}),
    );
    this.sessions = new AgentSessions(SESSION_TTL_MS, async (hash) => {
      const row = await nodeRepo.sessionByTokenHash(this.db, hash);
      return row
        ? {
            nodeId: row.id,
            clusterId: row.cluster_id,
            status: row.status,
            apiToken: this.secrets.open(row.api_token_enc),
            proxyPassword: this.secrets.open(row.proxy_password_enc),
          }
        : null;
    });
  }

  /**
   * Called when a node's api_token stops being valid (re-registration or deletion), so channels
   * opened with the old token (live streams) can be closed. `keepTokenHash` is the hash of the token
   * that replaced it (null on deletion): a channel opened with that one is already the new one.
   */
  onTokenRevoked(listener: (nodeId: string, keepTokenHash: string | null) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Another instance revoked the node's token: stop honouring the cached one here. */
  forgetSession(nodeId: string): void {
    this.sessions.forget(nodeId);
  }

  private revoked(nodeId: string, keepTokenHash: string | null = null): void {
    this.sessions.forget(nodeId);
    this.statuses.cancel(nodeId);
    for (const listener of this.revokedListeners) listener(nodeId, keepTokenHash);
  }

  /** The node a Bearer api_token belongs to, or null. */
  authenticate(token: string): Promise<AgentSession | null> {
    return this.sessions.get(tokenHash(token));
  }

  /** Starts flushing coalesced last_seen_at writes. */
  async start(): Promise<void> {
    this.lastSeen.start();
  }

  async stop(): Promise<void> {
    this.statuses.stop();
    await this.lastSeen.stop();
  }

  // ── Admin API ────────────────────────────────────────────────────────────────────────────────

  async list(principal: Principal, query: NodeListQuery): Promise<Page<Node>> {
    const page = await nodeRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: await this.render(page.items), pagination: page.pagination };
  }

  async get(principal: Principal, id: string): Promise<Node> {
    id = canonicalUuid(id);
    assertNodeAccess(principal, id);
    return (await this.render([await this.require(this.db, id)]))[0]!;
  }

  async delete(principal: Principal, id: string): Promise<void> {
    id = canonicalUuid(id);
    assertNodeAccess(principal, id);
    await this.require(this.db, id);
    await this.db.transaction().execute(async (trx) => {
      await aliasRepo.deleteForNode(trx, id);
      await this.allocator.release(trx, id);
      await inventoryRepo.delete(trx, id);
    });
    this.lastSeen.forget(id);
    this.revoked(id);
  }

  async changeCluster(principal: Principal, id: string, input: ChangeClusterRequest): Promise<Node> {
    id = canonicalUuid(id);
    assertNodeAccess(principal, id);
    await this.outbox.run(async (trx, emit) => {
      const node = await this.require(trx, id);
      const target = await lockCluster(trx, input.cluster_name);
      if (!target) throw ValidationError.field('cluster_name', 'not found');
      if (target.id === node.cluster_id) throw new ConflictError('node is already in this cluster');
      await assertRoomFor(trx, target);

      // Aliases are names inside the old cluster's DNS zone; they do not follow the node.
      await aliasRepo.deleteForNode(trx, id);
      await inventoryRepo.update(trx, id, { cluster_id: target.id, updated_at: nowIso() });
      await this.allocator.allocate(trx, id, target);
      const moved = await this.require(trx, id);
      emit('edge.node.cluster_changed', { ...edgeNodeEventData(moved), previous_cluster_name: node.cluster_name });
    });
    return this.get(principal, id);
  }

  // ── Agent API ────────────────────────────────────────────────────────────────────────────────

  /**
   * First registration creates the node; every later one upserts all reported facts, moves the
   * node when `network_name` names another cluster, and rotates both secrets.
   *
   * `credential` is the caller's Bearer token. A join ticket (from enrollment-key verification for
   * the target cluster) only creates a node; an existing node re-registers only with its own current
   * api_token. Node ids are public (hostnames, events), so a ticket naming a taken id would otherwise
   * hand that node's secrets to whoever asks; a clone of an enrolled machine hits the same refusal.
   */
  async register(request: RegistrationRequest, credential: string | null): Promise<Registration> {
    const input = { ...request, node_id: canonicalUuid(request.node_id) };
    const clusterName = this.naming.clusterFromNetwork(input.network_name);
    if (clusterName === null || clusterName === '') throw ValidationError.field('network_name', 'must start with "cluster-" followed by a cluster name');
    const apiToken = randomToken(32);
    const proxyPassword = randomToken(32);
    const secrets = {
      api_token_hash: tokenHash(apiToken),
      api_token_enc: this.secrets.seal(apiToken),
      proxy_password_enc: this.secrets.seal(proxyPassword),
    };
    const attempt = () => this.outbox.run((trx, emit) => this.upsertRegistration(trx, emit, input, clusterName, secrets, credential));
    try {
      await attempt();
    } catch (error) {
      // Two first registrations of one node raced on its primary key: the loser tries again and
      // re-registers (its own token) or is refused as a second machine (a join ticket).
      if (!uniqueViolationColumns(error)) throw error;
      await attempt();
    }
    // The old token stopped working in the database; stop honouring it here too.
    this.revoked(input.node_id, secrets.api_token_hash);
    return this.registration(input.node_id, apiToken, proxyPassword);
  }

  private async upsertRegistration(
    trx: Transaction<Database>,
    emit: Emit,
    input: RegistrationRequest,
    clusterName: string,
    secrets: { api_token_hash: string; api_token_enc: string; proxy_password_enc: string },
    credential: string | null,
  ): Promise<void> {
    const cluster = await lockCluster(trx, clusterName);
    if (!cluster) throw ValidationError.field('network_name', 'cluster not found');
    const now = nowIso();
    const currentHash = await nodeRepo.tokenHashOf(trx, input.node_id);
    const ownToken = credential !== null && currentHash !== null && constantTimeEqual(currentHash, tokenHash(credential));
    if (!ownToken) {
      if (credential === null || !(await joinTicketRepo.consume(trx, credential, cluster.id, now))) throw new AppError('unauthorized', 'Unauthorized');
      // Thrown inside the transaction, so the ticket stays unspent for the machine's own new id.
      if (currentHash !== null) throw new ConflictError(takenByAnotherMachine(input.node_id));
    }
    const edge = {
      id_type: input.id_type,
      http_port: input.http_port,
      ssh_port: input.ssh_port,
      host_metrics_port: input.host_metrics_port,
      wireguard_metrics_port: input.wireguard_metrics_port,
      http_proxy_port: input.http_proxy_port,
      socks5_proxy_port: input.socks5_proxy_port,
      self_update_enabled: input.self_update_enabled ? 1 : 0,
      ...secrets,
    };
    const previous = await nodeRepo.find(trx, input.node_id);

    if (!previous) {
      const other = await inventoryRepo.find(trx, input.node_id);
      if (other) throw new ConflictError('node_id has already been taken');
      await assertRoomFor(trx, cluster);
      await inventoryRepo.insert(trx, {
        id: input.node_id,
        kind: EDGE_AGENT_KIND,
        name: this.naming.nodeName(input.node_id),
        cluster_id: cluster.id,
        status: 'healthy',
        last_seen_at: now,
        version: input.version,
        inserted_at: now,
        updated_at: now,
      });
      await nodeRepo.insertEdge(trx, { node_id: input.node_id, ...edge });
      await this.allocator.allocate(trx, input.node_id, cluster);
      emit('edge.node.registered', edgeNodeEventData(await this.require(trx, input.node_id)));
      return;
    }

    // Re-registration never fails on capacity (edge-admin spec §7.3), even when it moves clusters.
    if (previous.cluster_id !== cluster.id) await aliasRepo.deleteForNode(trx, input.node_id);
    await inventoryRepo.update(trx, input.node_id, { cluster_id: cluster.id, status: 'healthy', last_seen_at: now, version: input.version, updated_at: now });
    await nodeRepo.updateEdge(trx, input.node_id, edge);
    await this.allocator.allocate(trx, input.node_id, cluster);
    const data = edgeNodeEventData(await this.require(trx, input.node_id));
    emit('edge.node.reregistered', data);
    if (previous.version !== input.version) emit('edge.node.version_changed', { ...data, previous_version: previous.version });
  }

  /**
   * The agent's HTTP fallback health report. An unchanged status costs no write: the time goes
   * to the coalescing buffer. A changed status is written at once and, by our decision (upstream
   * stays silent here, edge-admin spec §6.1/§15.8), emits `edge.node.status_changed` so webhook
   * consumers see agent-reported transitions exactly like sweep-detected ones.
   */
  async reportHealth(nodeId: string, status: 'healthy' | 'unhealthy'): Promise<Registration> {
    let session = this.sessions.ofNode(nodeId);
    if (!session) {
      const current = await nodeRepo.heartbeatView(this.db, nodeId);
      if (!current) throw new NotFoundError('Node');
      session = {
        nodeId,
        clusterId: null,
        status: current.status,
        apiToken: this.secrets.open(current.api_token_enc),
        proxyPassword: this.secrets.open(current.proxy_password_enc),
      };
    }
    if (session.status === status && !this.statuses.holds(nodeId)) this.touch(nodeId);
    else await this.statuses.report(nodeId, status, nowIso());
    return {
      node_id: nodeId,
      api_token: session.apiToken,
      proxy_password: session.proxyPassword,
      admin_urls: this.policy.adminUrls(),
      derp_map_url: this.policy.derpMapUrl,
    };
  }

  /** A status the agent reported over its live channel (debounced like the HTTP report). */
  reportStatus(nodeId: string, status: 'healthy' | 'unhealthy'): Promise<void> {
    return this.statuses.report(nodeId, status, nowIso());
  }

  /**
   * The node went silent (sweep), or its live channel closed at `silentSince` and the grace ran
   * out: unreachable, unless it was heard from after `silentSince` (an HTTP report, or a channel
   * on another instance). Returns whether the status changed.
   */
  async markUnreachable(nodeId: string, silentSince: string | null = null): Promise<boolean> {
    if (silentSince !== null) {
      await this.flushLastSeen();
      const node = await nodeRepo.find(this.db, nodeId);
      if (!node || (node.last_seen_at !== null && node.last_seen_at > silentSince)) return false;
    }
    this.statuses.cancel(nodeId);
    return this.markStatus(nodeId, 'unreachable');
  }

  /** Records that a node (of any kind) was heard from; written by the next flush. */
  touch(nodeId: string, at: string = nowIso()): void {
    this.lastSeen.record(nodeId, at);
  }

  /**
   * Sets an edge node's status now, emitting `edge.node.status_changed` when it actually changes.
   * `seenAt` also records contact (a report or a successful probe); an unreachable verdict passes
   * none. Returns whether the status changed.
   */
  async markStatus(nodeId: string, status: NodeStatus, seenAt: string | null = null): Promise<boolean> {
    const changed = await this.outbox.run(async (trx, emit) => {
      const node = await this.require(trx, nodeId);
      if (node.status === status) {
        if (seenAt !== null) this.touch(nodeId, seenAt);
        return false;
      }
      const change: InventoryChange & { status: string } = { status, updated_at: nowIso() };
      if (seenAt !== null && (node.last_seen_at === null || node.last_seen_at < seenAt)) change.last_seen_at = seenAt;
      if (!(await inventoryRepo.setStatusIf(trx, nodeId, node.status, change))) return false;
      const data = edgeNodeEventData(await this.require(trx, nodeId));
      emit('edge.node.status_changed', { ...data, previous_status: node.status });
      return true;
    });
    this.sessions.setStatus(nodeId, status);
    return changed;
  }

  /** Edge nodes in `clusterIds` silent since before `cutoff`, for the unreachable sweep. */
  findStale(cutoff: string, clusterIds: string[]): Promise<string[]> {
    return nodeRepo.findStale(this.db, cutoff, clusterIds);
  }

  /** Writes pending last-seen times now (tests and shutdown; the timer does it every second). */
  flushLastSeen(): Promise<void> {
    return this.lastSeen.flush();
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private registration(nodeId: string, apiToken: string, proxyPassword: string): Registration {
    return {
      node_id: nodeId,
      api_token: apiToken,
      proxy_password: proxyPassword,
      admin_urls: this.policy.adminUrls(),
      derp_map_url: this.policy.derpMapUrl,
    };
  }

  private async require(db: Db, id: string): Promise<EdgeNodeRecord> {
    const node = await nodeRepo.find(db, id);
    if (!node) throw new NotFoundError('Node');
    return node;
  }

  private async render(rows: EdgeNodeRecord[]): Promise<Node[]> {
    const aliases = await aliasRepo.forNodes(
      this.db,
      rows.map((r) => r.id),
    );
    const byNode = new Map<string, AliasRecord[]>();
    for (const a of aliases) byNode.set(a.node_id, [...(byNode.get(a.node_id) ?? []), a]);
    return rows.map((row) => ({
      id: row.id,
      node_name: row.name,
      cluster_name: row.cluster_name,
      netmaker_host_id: null,
      id_type: row.id_type,
      status: row.status,
      vpn_hostname: this.naming.nodeHostname(row.id, row.cluster_name),
      mdns_hostname: this.naming.mdnsHostname(row.id),
      http_port: row.http_port,
      ssh_port: row.ssh_port,
      host_metrics_port: row.host_metrics_port,
      wireguard_metrics_port: row.wireguard_metrics_port,
      http_proxy_port: row.http_proxy_port,
      socks5_proxy_port: row.socks5_proxy_port,
      api_token: this.secrets.open(row.api_token_enc),
      proxy_password: this.secrets.open(row.proxy_password_enc),
      version: row.version,
      self_update_enabled: row.self_update_enabled === 1,
      last_seen_at: toSecondPrecision(row.last_seen_at),
      inserted_at: toSecondPrecision(row.inserted_at),
      updated_at: toSecondPrecision(row.updated_at),
      aliases: (byNode.get(row.id) ?? []).map((a) => ({ id: a.id, name: a.name, vpn_hostname: this.naming.nodeHostname(a.name, a.cluster_name) })),
    }));
  }
}

/**
 * What the second of two machines sharing one node id (a cloned disk: same /etc/machine-id, or a
 * copied agent data dir) is told. Our agent adds where its id came from on that machine.
 */
function takenByAnotherMachine(nodeId: string): string {
  return (
    `node_id ${nodeId} is already registered by another machine; a join ticket only creates new nodes. ` +
    `Give this machine its own identity (regenerate /etc/machine-id, remove identity.json and state.json from the agent's data dir, ` +
    `or set NODEPLANE_AGENT_NODE_ID to a new UUID) and register again, or delete node ${nodeId} through the Admin API if that machine is gone`
  );
}

/** Locks the cluster row so concurrent joins cannot both take its last free slot. */
function lockCluster(trx: Db, name: string): Promise<ClusterRow | undefined> {
  return clusterRepo.lockByName(trx, name);
}
