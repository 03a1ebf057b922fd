/**
 * Pushes work over agents' live channels (src/contract/agent-stream.ts): each new pending execution
 * the moment it is committed, a node's pending executions again whenever its channel opens, and
 * cancellations of sent executions. Pushing never waits for a socket: a frame is handed to `ws` and
 * the agent claims the execution over HTTP (acknowledge), so a lost frame costs nothing but the
 * wait for the next connect or poll.
 *
 * Only channels held by this instance are reached. With several instances a node connected to
 * another one gets new work on its next reconnect or poll; telling that instance ("node X has new
 * work") needs cross-instance signalling (Postgres LISTEN/NOTIFY), which is not built yet.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import { nowIso } from '../../lib/time.ts';
import type { AgentHub } from '../agent-stream/agent-hub.ts';
import { type ExecutionRecord, executionRepo } from './execution.repo.ts';
import { agentExecutionView } from './views.ts';

export class ExecutionDelivery {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly hub: AgentHub,
    private readonly log: Logger,
  ) {}

  /** Hands each execution to its node's channel if this instance holds one; returns how many went out. */
  push(executions: ExecutionRecord[]): number {
    let sent = 0;
    for (const execution of executions) {
      if (execution.node_id !== null && this.hub.send(execution.node_id, { type: 'execution', execution: agentExecutionView(execution) })) sent++;
    }
    return sent;
  }

  /** A node's channel just opened: offer it everything still waiting for it. */
  async pushPending(nodeId: string): Promise<void> {
    try {
      this.push(await executionRepo.pendingForNode(this.db, nodeId, nowIso()));
    } catch (error) {
      this.log.error({ err: error, nodeId }, 'pushing pending executions to a connected node failed');
    }
  }

  /** Asks the node to kill a running execution; false when this instance holds no open channel to it. */
  cancel(nodeId: string, executionId: string): boolean {
    return this.hub.send(nodeId, { type: 'cancel_execution', id: executionId });
  }
}
