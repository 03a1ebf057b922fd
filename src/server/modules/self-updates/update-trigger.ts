/**
 * Triggers self-updates over agents' live channels: sends `self_update` and waits for the agent's
 * `self_update_ack` (src/contract/agent-stream.ts). A node counts as triggered only when it
 * accepted; a refusal, no open channel on this instance, a channel that closes before answering, or
 * no answer by the deadline all count as failed.
 */
import type { Logger } from 'pino';
import { UUID_PATTERN } from '../../lib/ids.ts';
import type { AgentHub } from '../agent-stream/agent-hub.ts';

/** How often waiting triggers check that their node's channel is still open. */
const CHANNEL_CHECK_MS = 250;
const MAX_REASON_LOGGED = 500;

interface Waiter {
  nodeId: string;
  settle(accepted: boolean): void;
}

export class UpdateTrigger {
  /** Keyed by `<request id> <node id>`. */
  private readonly waiters = new Map<string, Waiter>();
  private ticker: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: AgentHub,
    private readonly log: Logger,
  ) {}

  /** Settles every wait as failed (shutdown). */
  stop(): void {
    for (const waiter of [...this.waiters.values()]) waiter.settle(false);
  }

  /** Triggers each node and resolves, by the deadline at the latest, with the ids that accepted. */
  async triggerAll(requestId: string, nodeIds: string[], deadline: number): Promise<Set<string>> {
    const outcomes = await Promise.all(nodeIds.map((nodeId) => this.trigger(requestId, nodeId, deadline)));
    return new Set(nodeIds.filter((_, i) => outcomes[i]));
  }

  private trigger(requestId: string, nodeId: string, deadline: number): Promise<boolean> {
    const key = `${requestId} ${nodeId}`;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => waiter.settle(false), Math.max(0, deadline - Date.now()));
      const waiter: Waiter = {
        nodeId,
        settle: (accepted) => {
          if (this.waiters.get(key) !== waiter) return;
          clearTimeout(timer);
          this.waiters.delete(key);
          if (this.waiters.size === 0) this.stopTicker();
          resolve(accepted);
        },
      };
      this.waiters.get(key)?.settle(false);
      this.waiters.set(key, waiter);
      this.startTicker();
      if (!this.hub.send(nodeId, { type: 'self_update', self_update_request_id: requestId })) waiter.settle(false);
    });
  }

  /** A channel that closed can no longer carry the answer: fail its waits now, not at the deadline. */
  private startTicker(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => {
      for (const waiter of [...this.waiters.values()]) if (!this.hub.isConnected(waiter.nodeId)) waiter.settle(false);
    }, CHANNEL_CHECK_MS);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** `{self_update_request_id: uuid, accepted: boolean, reason?: string}`; anything else is dropped. */
  ack(nodeId: string, frame: Record<string, unknown>): void {
    const { self_update_request_id: requestId, accepted, reason } = frame;
    if (typeof requestId !== 'string' || !UUID_PATTERN.test(requestId) || typeof accepted !== 'boolean' || (reason !== undefined && typeof reason !== 'string')) {
      this.log.debug({ nodeId }, 'malformed self_update_ack frame ignored');
      return;
    }
    const waiter = this.waiters.get(`${requestId} ${nodeId}`);
    if (!waiter) {
      this.log.debug({ nodeId, selfUpdateRequestId: requestId }, 'self_update_ack for no waiting request ignored');
      return;
    }
    if (!accepted) this.log.info({ nodeId, selfUpdateRequestId: requestId, reason: reason?.slice(0, MAX_REASON_LOGGED) }, 'agent refused a self-update');
    waiter.settle(accepted);
  }

  /**
   * What running the update command did. Logged, not stored: the request's summary counts triggers
   * (§10), and a successful update shows up as the node re-registering with its new version
   * (`edge.node.version_changed`), so no table is needed for it.
   */
  result(nodeId: string, frame: Record<string, unknown>): void {
    const { self_update_request_id: requestId, status, exit_code: exitCode, output } = frame;
    const validExit = exitCode === null || (typeof exitCode === 'number' && Number.isInteger(exitCode));
    if (typeof requestId !== 'string' || !UUID_PATTERN.test(requestId) || (status !== 'succeeded' && status !== 'failed') || !validExit || typeof output !== 'string') {
      this.log.debug({ nodeId }, 'malformed self_update_result frame ignored');
      return;
    }
    this.log.info({ nodeId, selfUpdateRequestId: requestId, status, exitCode }, 'agent reported a self-update result');
  }
}
