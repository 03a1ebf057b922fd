/**
 * Marks edge nodes `unreachable` once nothing has been heard from them (no stream pong, health
 * report or registration) for longer than the threshold. Each instance sweeps only the clusters the
 * admin-cluster assignment gives it, so two instances never flip the same node.
 */
/**
 * How often an agent without a live channel reports over HTTP: every 2 min for the Edge agents of
 * the spec (edge-admin §6.5, "HTTP-fallback cadence"); ours default to 30 s.
 */
export const AGENT_HTTP_REPORT_INTERVAL_MS = 120_000;

/**
 * A start-up warning when silence is judged faster than agents are heard from (channel-less agents
 * report over HTTP; connected ones answer pings), else null.
 */
export function unreachableThresholdWarning(unreachableAfterMs: number, agentPingIntervalMs: number): string | null {
  const interval = Math.max(AGENT_HTTP_REPORT_INTERVAL_MS, agentPingIntervalMs);
  if (unreachableAfterMs >= interval) return null;
  return (
    `NODE_UNREACHABLE_AFTER_MS (${unreachableAfterMs} ms) is below the agents' HTTP report interval (${interval} ms): ` +
    `nodes without a live channel will flap between unreachable and healthy; set it to at least ${interval}`
  );
}

export interface NodeSweepDeps {
  /** Clusters this instance sweeps, from a fresh assignment (so new clusters are covered). */
  ownedClusterIds(): Promise<string[]>;
  /** Nodes of those clusters, not yet unreachable, last seen before `cutoff` (or never). */
  findStale(cutoffIso: string, clusterIds: string[]): Promise<string[]>;
  markUnreachable(nodeId: string): Promise<unknown>;
  /** Writes pending coalesced last_seen_at values first, so a live node is never judged stale. */
  flushLastSeen(): Promise<void>;
  onError(error: unknown): void;
}

export class NodeSweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly deps: NodeSweepDeps,
    private readonly options: { intervalMs: number; unreachableAfterMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.runOnce().catch((error) => this.deps.onError(error));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** One pass; returns how many nodes became unreachable. Overlapping calls share one pass. */
  runOnce(): Promise<number> {
    this.running ??= this.sweep().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweep(): Promise<number> {
    const clusters = await this.deps.ownedClusterIds();
    if (clusters.length === 0) return 0;
    await this.deps.flushLastSeen();
    const cutoff = new Date(Date.now() - this.options.unreachableAfterMs).toISOString();
    const stale = await this.deps.findStale(cutoff, clusters);
    for (const nodeId of stale) await this.deps.markUnreachable(nodeId);
    return stale.length;
  }
}
