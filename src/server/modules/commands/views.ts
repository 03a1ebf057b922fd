/**
 * The shapes commands and executions take on the wire: the Admin API items, the agent item (also
 * the payload of the live channel's `execution` frame) and the events' `data`. Output never leaves
 * through events or pushes.
 */
import type { Command, CommandExecution } from '../../../contract/admin/commands.ts';
import type { AgentCommandExecution } from '../../../contract/agents/executions.ts';
import type { CommandExecutionEventData } from '../../events/catalog.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import type { CommandRow } from './command.repo.ts';
import type { ExecutionRecord } from './execution.repo.ts';

export function commandView(row: CommandRow): Command {
  return {
    id: row.id,
    command_text: row.command_text,
    timeout: row.timeout,
    expired_at: toSecondPrecision(row.expired_at),
    targeting: JSON.parse(row.targeting),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}

export function executionView(r: ExecutionRecord): CommandExecution {
  return {
    id: r.id,
    command_id: r.command_id,
    node_id: r.node_id,
    cluster_name: r.cluster_name,
    target_all: r.target_all === 1,
    status: r.status,
    command_text: r.command_text,
    timeout: r.timeout,
    output: r.output ?? null,
    exit_code: r.exit_code,
    sent_at: toSecondPrecision(r.sent_at),
    completed_at: toSecondPrecision(r.completed_at),
    cancelled_at: toSecondPrecision(r.cancelled_at),
    expired_at: toSecondPrecision(r.expired_at),
    inserted_at: toSecondPrecision(r.inserted_at),
    updated_at: toSecondPrecision(r.updated_at),
  };
}

export function agentExecutionView(r: ExecutionRecord): AgentCommandExecution {
  return {
    id: r.id,
    command_id: r.command_id,
    command_text: r.command_text,
    timeout: r.timeout,
    expired_at: toSecondPrecision(r.expired_at),
    status: r.status,
    inserted_at: toSecondPrecision(r.inserted_at),
  };
}

export function executionEventData(r: ExecutionRecord): CommandExecutionEventData {
  return {
    command_execution_id: r.id,
    command_id: r.command_id,
    node_id: r.node_id,
    cluster_name: r.node_cluster_name,
    command_text: r.command_text,
    timeout: r.timeout,
    status: r.status,
    exit_code: r.exit_code,
    target_all: r.target_all === 1,
    expired_at: toSecondPrecision(r.expired_at),
    sent_at: toSecondPrecision(r.sent_at),
    completed_at: toSecondPrecision(r.completed_at),
    cancelled_at: toSecondPrecision(r.cancelled_at),
    inserted_at: toSecondPrecision(r.inserted_at),
    updated_at: toSecondPrecision(r.updated_at),
  };
}
