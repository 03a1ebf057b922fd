/**
 * Node metrics (edge-admin spec §6.5, §12.3). Agents push their latest Prometheus snapshots; reads
 * parse the newest one. There is no live scrape over a VPN here, so the snapshot is the source and
 * its push time is the figures' `timestamp`. Also carries the control plane's own Prometheus registry
 * (`ctx.nodeMetrics.registry`; the composition root makes it).
 */
import type { Kysely } from 'kysely';
import { Counter, type Registry } from 'prom-client';
import type { AgentMetrics, HostMetrics, UnifiedMetrics } from '../../../contract/admin/node-metrics.ts';
import type { MetricsPushResult, MetricsType } from '../../../contract/agents/metrics.ts';
import type { Database } from '../../db/schema.ts';
import { NotFoundError, UnavailableError } from '../../errors.ts';
import { UUID_PATTERN, uuidv7 } from '../../lib/ids.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import { type MetricsSubjectRow, nodeMetricsRepo, type SnapshotRow } from './node-metrics.repo.ts';
import { createServerRegistry } from './registry.ts';
import { summarizeAgent, summarizeHost } from './summarize.ts';
import type { NodePrincipal, Principal } from '../../principal.ts';
import { assertNodeAccess } from '../../access.ts';

export interface NodeMetricsOptions {
  /** A snapshot older than this is no evidence of the node's current state (spec: 5 minutes). */
  freshForMs?: number;
  now?: () => number;
  /** The server's registry (the composition root's); a fresh one when not given. */
  registry?: Registry;
}

export class NodeMetricsService {
  readonly registry: Registry;
  private readonly pushes: Counter<'metrics_type'>;
  private readonly freshForMs: number;
  private readonly now: () => number;

  constructor(
    readonly db: Kysely<Database>,
    options: NodeMetricsOptions = {},
  ) {
    this.freshForMs = options.freshForMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.registry = options.registry ?? createServerRegistry();
    this.pushes = new Counter({
      name: 'nodeplane_node_metrics_pushes_total',
      help: 'Metrics snapshots pushed by nodes, by metrics type',
      labelNames: ['metrics_type'],
      registers: [this.registry],
    });
  }

  async push({ id: nodeId }: NodePrincipal, type: MetricsType, text: string): Promise<MetricsPushResult> {
    const row: SnapshotRow = { node_id: nodeId, metrics_type: type, id: uuidv7(), metrics_text: text, updated_at: new Date(this.now()).toISOString() };
    let stored;
    try {
      stored = await nodeMetricsRepo.upsert(this.db, row);
    } catch (error) {
      // The node was deleted between authenticating and storing: its foreign key no longer holds.
      if (!(await nodeMetricsRepo.subject(this.db, nodeId))) throw new NotFoundError('Node');
      throw error;
    }
    this.pushes.inc({ metrics_type: type });
    return { id: stored.id, node_id: stored.node_id, metrics_type: type, updated_at: toSecondPrecision(stored.updated_at) };
  }

  async host(principal: Principal, nodeId: string): Promise<HostMetrics> {
    const subject = await this.subject(principal, nodeId);
    const snapshot = this.requireFresh(await nodeMetricsRepo.find(this.db, subject.id, 'host'));
    return { ...this.header(subject, snapshot.updated_at), ...summarizeHost(snapshot.metrics_text, this.now()) };
  }

  async agent(principal: Principal, nodeId: string): Promise<AgentMetrics> {
    const subject = await this.subject(principal, nodeId);
    const snapshot = this.requireFresh(await nodeMetricsRepo.find(this.db, subject.id, 'agent'));
    return { ...this.header(subject, snapshot.updated_at), ...summarizeAgent(snapshot.metrics_text) };
  }

  /**
   * Best effort: each section is available or not on its own. `timestamp` is the newer of the
   * fresh snapshots' times, or now when neither is fresh.
   */
  async unified(principal: Principal, nodeId: string): Promise<UnifiedMetrics> {
    const subject = await this.subject(principal, nodeId);
    const rows = await nodeMetricsRepo.findMany(this.db, subject.id, ['host', 'agent']);
    const fresh = (type: MetricsType) => rows.find((r) => r.metrics_type === type && this.isFresh(r));
    const host = fresh('host');
    const agent = fresh('agent');
    const unavailable = { available: false, error: 'unavailable' };
    const times = [host, agent]
      .filter((r) => r !== undefined)
      .map((r) => r.updated_at)
      .sort();
    return {
      ...this.header(subject, times.at(-1) ?? new Date(this.now()).toISOString()),
      host: host ? { available: true, ...summarizeHost(host.metrics_text, this.now()) } : unavailable,
      agent: agent ? { available: true, ...summarizeAgent(agent.metrics_text) } : unavailable,
    };
  }

  /** The snapshot text exactly as pushed, for Prometheus to scrape through the Admin API. */
  async raw(principal: Principal, nodeId: string, type: MetricsType): Promise<string> {
    const subject = await this.subject(principal, nodeId);
    return this.requireFresh(await nodeMetricsRepo.find(this.db, subject.id, type)).metrics_text;
  }

  /** Malformed ids are unknown nodes; checking first also keeps bytes like NUL away from Postgres. */
  private async subject(principal: Principal, nodeId: string): Promise<MetricsSubjectRow> {
    assertNodeAccess(principal, nodeId);
    const subject = UUID_PATTERN.test(nodeId) ? await nodeMetricsRepo.subject(this.db, nodeId) : undefined;
    if (!subject) throw new NotFoundError('Node');
    return subject;
  }

  private isFresh(row: SnapshotRow): boolean {
    return this.now() - Date.parse(row.updated_at) <= this.freshForMs;
  }

  private requireFresh(row: SnapshotRow | undefined): SnapshotRow {
    if (!row || !this.isFresh(row)) throw new UnavailableError();
    return row;
  }

  private header(subject: MetricsSubjectRow, updatedAt: string) {
    return { node_id: subject.id, cluster_name: subject.cluster_name, timestamp: toSecondPrecision(updatedAt) };
  }
}
