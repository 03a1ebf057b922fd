/**
 * Triggers self-updates over nodes' live channels, wherever they are held: sends `self_update` as a
 * request and waits for the agent's `self_update_ack` (src/contract/agent-stream.ts; the hub has
 * validated it). A node counts as triggered only when it accepted; a refusal, no open channel, a
 * channel that closes before answering, or no answer by the deadline all count as failed.
 */
import type { Logger } from 'pino';
import type { SelfUpdateAckFrame, SelfUpdateFrame, SelfUpdateResultFrame } from '../../../contract/agent-stream.ts';
import { ChannelError, type NodeChannels } from '../../channels/node-channels.ts';

const MAX_REASON_LOGGED = 500;

export class UpdateTrigger {
  private readonly closing = new AbortController();

  constructor(
    private readonly channels: NodeChannels,
    private readonly log: Logger,
  ) {}

  /** Settles every wait as failed (shutdown). */
  stop(): void {
    this.closing.abort();
  }

  /** Triggers each node and resolves, by the deadline at the latest, with the ids that accepted. */
  async triggerAll(requestId: string, nodeIds: string[], deadline: number): Promise<Set<string>> {
    const outcomes = await Promise.all(nodeIds.map((nodeId) => this.trigger(requestId, nodeId, deadline)));
    return new Set(nodeIds.filter((_, i) => outcomes[i]));
  }

  private async trigger(requestId: string, nodeId: string, deadline: number): Promise<boolean> {
    if (this.closing.signal.aborted) return false;
    const frame: SelfUpdateFrame = { type: 'self_update', self_update_request_id: requestId };
    let onAbort = () => {};
    const stopped = new Promise<null>((resolve) => (onAbort = () => resolve(null)));
    this.closing.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const ack = (await Promise.race([this.channels.request(nodeId, frame, { timeoutMs: deadline - Date.now() }), stopped])) as SelfUpdateAckFrame | null;
      if (ack === null) return false;
      if (!ack.accepted)
        this.log.info({ nodeId, selfUpdateRequestId: requestId, reason: ack.reason?.slice(0, MAX_REASON_LOGGED) }, 'agent refused a self-update');
      return ack.accepted;
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      this.log.debug({ nodeId, selfUpdateRequestId: requestId, reason: error.reason }, 'self-update not acknowledged');
      return false;
    } finally {
      this.closing.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * What running the update command did. Logged, not stored: the request's summary counts triggers
   * (§10), and a successful update shows up as the node re-registering with its new version
   * (`edge.node.version_changed`), so no table is needed for it.
   */
  result(nodeId: string, frame: SelfUpdateResultFrame): void {
    const { self_update_request_id: requestId, status, exit_code: exitCode } = frame;
    this.log.info({ nodeId, selfUpdateRequestId: requestId, status, exitCode }, 'agent reported a self-update result');
  }
}
