/** Commands and command executions of the Admin API (edge-admin spec §3 rows 30–37, §4, §8). */
import { Type, type Static } from 'typebox';
import { DateBound, ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';
import { Targeting } from './targeting.ts';

export const ExecutionStatus = Type.Enum(['pending', 'sent', 'completed', 'cancelled', 'expired']);
export type ExecutionStatus = Static<typeof ExecutionStatus>;

export const CommandCreateRequest = Type.Object(
  {
    /** Multi-line shell script; whitespace-only text is a 422. */
    command_text: Type.String({ minLength: 1 }),
    /** Milliseconds, enforced by the agent; null/absent = no limit. */
    timeout: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    /** Must be in the future (422); immutable. */
    expired_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
    targeting: Targeting,
  },
  { additionalProperties: false },
);
export type CommandCreateRequest = Static<typeof CommandCreateRequest>;

export const Command = Type.Object({
  id: Uuid,
  command_text: Type.String(),
  timeout: Nullable(Type.Integer()),
  expired_at: NullableTimestamp,
  /** The request's targeting, as stored (informational, not filterable). */
  targeting: Targeting,
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type Command = Static<typeof Command>;

export const CommandExecution = Type.Object({
  id: Uuid,
  command_id: Uuid,
  /** Null only when the node was deleted after the execution was created. */
  node_id: Nullable(Uuid),
  /** The cluster explicitly targeted: set only when `clusters` targeting resolved to one cluster. */
  cluster_name: Nullable(Type.String()),
  target_all: Type.Boolean(),
  status: Type.String(),
  command_text: Nullable(Type.String()),
  timeout: Nullable(Type.Integer()),
  output: Nullable(Type.String()),
  exit_code: Nullable(Type.Integer()),
  sent_at: NullableTimestamp,
  completed_at: NullableTimestamp,
  cancelled_at: NullableTimestamp,
  /** The parent command's deadline. */
  expired_at: NullableTimestamp,
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type CommandExecution = Static<typeof CommandExecution>;

export const CancelExecutionData = Type.Object({
  result: Type.Enum(['execution cancelled', 'cancellation request sent']),
});
export type CancelExecutionData = Static<typeof CancelExecutionData>;

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const CommandListQuery = ListQuery({
  command_text: Type.Optional(StringFilter),
  has_timeout: Type.Optional(Type.Boolean()),
  has_expired_at: Type.Optional(Type.Boolean()),
  timeout__gte: Type.Optional(Type.Integer({ minimum: 1 })),
  timeout__lte: Type.Optional(Type.Integer({ minimum: 1 })),
  expired_at__gte: Type.Optional(DateBound),
  expired_at__lte: Type.Optional(DateBound),
});
export type CommandListQuery = Static<typeof CommandListQuery>;

export const CommandExecutionListQuery = ListQuery({
  status: Type.Optional(ExecutionStatus),
  target_all: Type.Optional(Type.Boolean()),
  exit_code: Type.Optional(Type.Integer({ minimum: 0 })),
  exit_code__gte: Type.Optional(Type.Integer()),
  exit_code__lte: Type.Optional(Type.Integer()),
  has_output: Type.Optional(Type.Boolean()),
  command_id: Type.Optional(Uuid),
  node_id: Type.Optional(Uuid),
  output: Type.Optional(StringFilter),
  /** The node's current cluster (not the targeted one); comma lists are ignored (§4.4). */
  cluster_name: Type.Optional(StringFilter),
  /** Whether the execution has a targeted cluster. */
  has_cluster: Type.Optional(Type.Boolean()),
  sent_at__gte: Type.Optional(DateBound),
  sent_at__lte: Type.Optional(DateBound),
  completed_at__gte: Type.Optional(DateBound),
  completed_at__lte: Type.Optional(DateBound),
  cancelled_at__gte: Type.Optional(DateBound),
  cancelled_at__lte: Type.Optional(DateBound),
});
export type CommandExecutionListQuery = Static<typeof CommandExecutionListQuery>;
