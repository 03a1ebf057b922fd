/**
 * Marks edge nodes `unreachable` once nothing has been heard from them (no stream pong, health
 * report or registration) for longer than the threshold. Scheduled per owned cluster (jobs/scheduler.ts),
 * so two instances never flip the same node.
 */
/**
 * How often an agent without a live channel reports over HTTP: every 2 min for the Edge agents of
 * the spec (edge-admin §6.5, "HTTP-fallback cadence"); ours default to 30 s.
 */
const AGENT_HTTP_REPORT_INTERVAL_MS = 120_000;

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
  /** Nodes of those clusters, not yet unreachable, last seen before `cutoff` (or never). */
  findStale(cutoffIso: string, clusterIds: string[]): Promise<string[]>;
  markUnreachable(nodeId: string): Promise<unknown>;
  /** Writes pending coalesced last_seen_at values first, so a live node is never judged stale. */
  flushLastSeen(): Promise<void>;
}

/** One pass over the given clusters (the ones this instance owns); returns how many nodes became unreachable. */
export async function sweepUnreachable(deps: NodeSweepDeps, unreachableAfterMs: number, clusterIds: string[]): Promise<number> {
  if (clusterIds.length === 0) return 0;
  await deps.flushLastSeen();
  const cutoff = new Date(Date.now() - unreachableAfterMs).toISOString();
  const stale = await deps.findStale(cutoff, clusterIds);
  for (const nodeId of stale) await deps.markUnreachable(nodeId);
  return stale.length;
}
