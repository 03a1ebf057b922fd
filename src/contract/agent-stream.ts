/**
 * The agent live channel (`GET /api/v1/agents/stream`, WebSocket, Bearer api_token): every frame is
 * one JSON text message. Shared by the server's hub and the agent, so both sides read one truth.
 *
 * Work delivery is at-least-once and starts exactly once: the server pushes pending executions
 * (on creation and again whenever the node's channel opens); the agent claims one with
 * `PATCH /api/v1/agents/command_executions/{id}/acknowledge` (pending → sent) and runs it only if
 * that succeeds, recording it locally first so a restart never runs it twice.
 */

/** The agent-facing execution item (edge-admin spec §6.5). */
export interface AgentExecution {
  id: string;
  command_id: string;
  command_text: string;
  /** Milliseconds; null = no limit. */
  timeout: number | null;
  /** The command's deadline; past it the execution must not start. */
  expired_at: string | null;
  status: string;
  inserted_at: string;
}

// ── server → agent ──────────────────────────────────────────────────────────────────────────

export interface WelcomeFrame {
  type: 'welcome';
  node_id: string;
  health_interval_ms?: number;
}

export interface ExecutionFrame {
  type: 'execution';
  execution: AgentExecution;
}

/** Kill the execution if it runs here, then report exit code 143 (→ cancelled). */
export interface CancelExecutionFrame {
  type: 'cancel_execution';
  id: string;
}

/** Apply an update; answer with `self_update_ack` within 30 s. */
export interface SelfUpdateFrame {
  type: 'self_update';
  self_update_request_id: string;
}

export type ServerFrame = WelcomeFrame | ExecutionFrame | CancelExecutionFrame | SelfUpdateFrame;

// ── agent → server ──────────────────────────────────────────────────────────────────────────

export interface HealthFrame {
  type: 'health';
  status: 'healthy' | 'unhealthy';
}

/** accepted = the update command is starting; false when self-update is disabled or impossible. */
export interface SelfUpdateAckFrame {
  type: 'self_update_ack';
  self_update_request_id: string;
  accepted: boolean;
  reason?: string;
}

/** What running the update command did (sent before the agent restarts into the new version). */
export interface SelfUpdateResultFrame {
  type: 'self_update_result';
  self_update_request_id: string;
  status: 'succeeded' | 'failed';
  exit_code: number | null;
  output: string;
}

export type AgentFrame = HealthFrame | SelfUpdateAckFrame | SelfUpdateResultFrame;

/** WebSocket close codes the server uses. */
export const STREAM_CLOSE = {
  replaced: 4000,
  tokenRevoked: 4401,
} as const;
