/**
 * Agent-facing execution routes (edge-admin spec §6.5) for agents that poll, and the execution item
 * the live channel pushes (src/contract/agent-stream.ts `AgentExecution` is this shape).
 */
import { Type, type Static } from 'typebox';
import { ExecutionStatus } from '../admin/commands.ts';
import { Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';

export const AgentCommandExecution = Type.Object({
  id: Uuid,
  command_id: Uuid,
  command_text: Type.String(),
  timeout: Nullable(Type.Integer()),
  expired_at: NullableTimestamp,
  status: Type.String(),
  inserted_at: Timestamp,
});
export type AgentCommandExecution = Static<typeof AgentCommandExecution>;

/** `status` is required; the rest default to page 1 of 100, oldest first. */
export const AgentExecutionListQuery = Type.Object(
  {
    status: ExecutionStatus,
    page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 100 })),
    order_by: Type.Optional(Type.String({ maxLength: 500, default: 'inserted_at' })),
    order_directions: Type.Optional(Type.String({ maxLength: 500, default: 'asc' })),
  },
  { additionalProperties: false },
);
export type AgentExecutionListQuery = Static<typeof AgentExecutionListQuery>;

/**
 * Acknowledge takes no body. It is declared (optional, open) so agents that send `{}` or an empty
 * JSON body are not refused.
 */
export const AcknowledgeRequest = Nullable(Type.Object({}));

/** Open object: agents of other versions may send fields we do not know. */
export const ExecutionResultRequest = Type.Object({
  /** `expired` = the agent refused to start it past its deadline. */
  status: Type.Enum(['completed', 'expired']),
  /** Stored as reported; only the HTTP body limit bounds it. */
  output: Type.Optional(Nullable(Type.String())),
  /** 143 (SIGTERM after a cancel) makes the execution `cancelled`; 124 is the agent's timeout. */
  exit_code: Type.Optional(Nullable(Type.Integer())),
  /** Defaults to the time the report arrives. */
  completed_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
});
export type ExecutionResultRequest = Static<typeof ExecutionResultRequest>;
