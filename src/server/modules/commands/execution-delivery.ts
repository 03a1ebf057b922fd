/**
 * Pushes work over nodes' live channels (src/contract/agent-stream.ts), wherever they are held:
 * each new pending execution the moment it is committed, a node's pending executions again whenever
 * its channel opens, and cancellations of sent executions. Pushing never waits for the agent: the
 * frame is handed to the channel and the agent claims the execution over HTTP (acknowledge), so a
 * lost frame costs nothing but the wait for the next connect or poll.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import { nowIso } from '../../lib/time.ts';
import type { CancelExecutionFrame, ExecutionFrame } from '../../../contract/agent-stream.ts';
import type { NodeChannels } from '../../channels/node-channels.ts';
import { type ExecutionRecord, executionRepo } from './execution.repo.ts';
import { agentExecutionView } from './views.ts';

export class ExecutionDelivery {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly channels: NodeChannels,
    private readonly log: Logger,
  ) {}

  /** Hands each execution to its node's channel, if any instance holds one; returns how many went out. */
  async push(executions: ExecutionRecord[]): Promise<number> {
    const frames = executions.flatMap((e) =>
      e.node_id === null ? [] : [{ nodeId: e.node_id, frame: { type: 'execution', execution: agentExecutionView(e) } satisfies ExecutionFrame }],
    );
    try {
      return await this.channels.sendMany(frames);
    } catch (error) {
      this.log.error({ err: error }, 'pushing executions to their nodes failed');
      return 0;
    }
  }

  /** A node's channel just opened: offer it everything still waiting for it. */
  async pushPending(nodeId: string): Promise<void> {
    try {
      await this.push(await executionRepo.pendingForNode(this.db, nodeId, nowIso()));
    } catch (error) {
      this.log.error({ err: error, nodeId }, 'pushing pending executions to a connected node failed');
    }
  }

  /** Asks the node to kill a running execution; false when no instance holds a channel to it. */
  cancel(nodeId: string, executionId: string): Promise<boolean> {
    return this.channels.send(nodeId, { type: 'cancel_execution', id: executionId } satisfies CancelExecutionFrame);
  }
}
