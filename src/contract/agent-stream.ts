/**
 * The agent live channel (`GET /api/v1/agents/stream`, WebSocket, Bearer api_token): every frame is
 * one JSON text message. Shared by the server's hub and the agent, so both sides read one truth; the
 * hub validates every agent frame against these schemas and ignores one that does not match.
 *
 * Work delivery is at-least-once and starts exactly once: the server pushes pending executions
 * (on creation and again whenever the node's channel opens); the agent claims one with
 * `PATCH /api/v1/agents/command_executions/{id}/acknowledge` (pending → sent) and runs it only if
 * that succeeds, recording it locally first so a restart never runs it twice.
 */
import { type Static, Type } from 'typebox';
import { AgentCommandExecution } from './agents/executions.ts';
import { Uuid } from './types.ts';

/** The agent-facing execution item (edge-admin spec §6.5). `timeout` in ms, null = no limit. */
export const AgentExecution = AgentCommandExecution;
export type AgentExecution = Static<typeof AgentExecution>;

// ── server → agent ──────────────────────────────────────────────────────────────────────────

export const WelcomeFrame = Type.Object({
  type: Type.Literal('welcome'),
  node_id: Type.String(),
  health_interval_ms: Type.Optional(Type.Integer()),
});
export type WelcomeFrame = Static<typeof WelcomeFrame>;

export const ExecutionFrame = Type.Object({ type: Type.Literal('execution'), execution: AgentExecution });
export type ExecutionFrame = Static<typeof ExecutionFrame>;

/** Kill the execution if it runs here, then report exit code 143 (→ cancelled). */
export const CancelExecutionFrame = Type.Object({ type: Type.Literal('cancel_execution'), id: Type.String() });
export type CancelExecutionFrame = Static<typeof CancelExecutionFrame>;

/** Apply an update; answer with `self_update_ack` within 30 s. */
export const SelfUpdateFrame = Type.Object({ type: Type.Literal('self_update'), self_update_request_id: Uuid });
export type SelfUpdateFrame = Static<typeof SelfUpdateFrame>;

export const ServerFrame = Type.Union([WelcomeFrame, ExecutionFrame, CancelExecutionFrame, SelfUpdateFrame]);
export type ServerFrame = Static<typeof ServerFrame>;

// ── agent → server ──────────────────────────────────────────────────────────────────────────

export const HealthFrame = Type.Object({ type: Type.Literal('health'), status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]) });
export type HealthFrame = Static<typeof HealthFrame>;

/** accepted = the update command is starting; false when self-update is disabled or impossible. */
export const SelfUpdateAckFrame = Type.Object({
  type: Type.Literal('self_update_ack'),
  self_update_request_id: Uuid,
  accepted: Type.Boolean(),
  reason: Type.Optional(Type.String()),
});
export type SelfUpdateAckFrame = Static<typeof SelfUpdateAckFrame>;

/** What running the update command did (sent before the agent restarts into the new version). */
export const SelfUpdateResultFrame = Type.Object({
  type: Type.Literal('self_update_result'),
  self_update_request_id: Uuid,
  status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
  // A plain union (not the OpenAPI `nullable`) so the hub's compiled check accepts null.
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  output: Type.String(),
});
export type SelfUpdateResultFrame = Static<typeof SelfUpdateResultFrame>;

export const AgentFrame = Type.Union([HealthFrame, SelfUpdateAckFrame, SelfUpdateResultFrame]);
export type AgentFrame = Static<typeof AgentFrame>;

/** WebSocket close codes the server uses. */
export const STREAM_CLOSE = {
  replaced: 4000,
  tokenRevoked: 4401,
} as const;
