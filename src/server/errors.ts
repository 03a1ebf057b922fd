/**
 * Domain errors. Services throw these with a stable `code`; each face decides the status number and
 * envelope. Messages of conflicts are user-facing sentences; validation details map field → messages.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'validation_failed'
  | 'degraded_mode'
  | 'service_unavailable'
  | 'node_unreachable'
  | 'node_timeout'
  | 'command_failed';

/** `{field: [messages]}`, nesting for nested objects; `base` for body-level errors. */
export interface ValidationDetails {
  [field: string]: string[] | ValidationDetails;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ValidationDetails,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super('not_found', `${what} not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', message);
  }
}

export class ValidationError extends AppError {
  constructor(details: ValidationDetails) {
    super('validation_failed', 'Validation failed', details);
  }

  static field(field: string, message: string): ValidationError {
    return new ValidationError({ [field]: [message] });
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden') {
    super('forbidden', message);
  }
}

export class DegradedModeError extends AppError {
  constructor() {
    super('degraded_mode', 'Cluster is in degraded mode (over capacity) — try again when capacity recovers');
  }
}

export class UnavailableError extends AppError {
  constructor(message = 'Service Unavailable') {
    super('service_unavailable', message);
  }
}

/**
 * A command a remote node could not carry out: not connected, silent, gone mid-wait, or its own
 * refusal — then `errorCode` is the node's word for it (`validation_error`, `unknown_action`…).
 */
export class NodeCommandError extends AppError {
  constructor(
    code: 'node_unreachable' | 'node_timeout' | 'command_failed',
    message: string,
    readonly errorCode?: string,
  ) {
    super(code, message);
  }
}
