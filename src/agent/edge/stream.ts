/**
 * The live channel: `GET /api/v1/agents/stream` upgraded to a WebSocket, Bearer api_token, JSON text
 * frames. Reconnects by itself with jittered exponential backoff; the backoff resets once a
 * connection has stayed up for `stableAfterMs`, so a server that accepts and immediately drops keeps
 * the delay growing. Presence is WebSocket ping/pong: ws answers the server's pings, and the client
 * pings too so a silently dead TCP path is noticed and replaced.
 *
 * Server frames are emitted under their `type` (welcome, execution, cancel_execution, self_update):
 * listeners on this emitter are the handler map later features plug into. Unknown types are logged
 * and ignored, so a newer server never breaks an older agent.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket, { type ClientOptions, type RawData } from 'ws';
import { Backoff, type BackoffOptions } from '../shared/backoff.ts';

export type {
  AgentExecution as StreamExecution,
  AgentFrame,
  CancelExecutionFrame,
  ExecutionFrame,
  HealthFrame,
  SelfUpdateFrame,
  ServerFrame,
  WelcomeFrame,
} from '../../contract/agent-stream.ts';
import type { AgentFrame, CancelExecutionFrame, ExecutionFrame, SelfUpdateFrame, ServerFrame, WelcomeFrame } from '../../contract/agent-stream.ts';

export interface StreamEvents {
  open: [];
  close: [info: { code: number; reason: string; wasOpen: boolean; upMs: number }];
  /** The upgrade was refused with 401 for `token`: it is gone. The client keeps retrying. */
  unauthorized: [token: string];
  welcome: [frame: WelcomeFrame];
  execution: [frame: ExecutionFrame];
  cancel_execution: [frame: CancelExecutionFrame];
  self_update: [frame: SelfUpdateFrame];
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type SocketFactory = (url: string, options: ClientOptions) => WebSocket;

export interface StreamClientOptions {
  /**
   * Control-plane base URL (http/https); the stream path and ws/wss scheme are derived from it. A
   * function is read at every connect, so the client can exist before the URL is known.
   */
  baseUrl: string | (() => string);
  /** Read at every connect: re-registration rotates the token. */
  token: () => string | null;
  logger: Logger;
  backoff?: BackoffOptions;
  stableAfterMs?: number;
  pingIntervalMs?: number;
  handshakeTimeoutMs?: number;
  closeTimeoutMs?: number;
  clock?: Clock;
  createSocket?: SocketFactory;
}

const STREAM_PATH = '/api/v1/agents/stream';

export function streamUrl(baseUrl: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}${STREAM_PATH}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

export class StreamClient extends EventEmitter<StreamEvents> {
  readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly createSocket: SocketFactory;
  private readonly stableAfterMs: number;
  private readonly pingIntervalMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly log: Logger;
  private socket: WebSocket | null = null;
  private reconnectTimer: unknown = null;
  private pingTimer: unknown = null;
  private running = false;
  private consecutiveFailures = 0;
  private immediateReconnect = false;

  constructor(private readonly options: StreamClientOptions) {
    super();
    this.backoff = new Backoff(options.backoff);
    this.clock = options.clock ?? systemClock;
    this.createSocket = options.createSocket ?? ((url, opts) => new WebSocket(url, opts));
    this.stableAfterMs = options.stableAfterMs ?? 10_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 20_000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 1_000;
    this.log = options.logger.child({ component: 'stream' });
  }

  /** True while a socket is open (frames can be sent). */
  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  /** Sends a frame if the stream is open; false means "use the HTTP fallback". */
  send(frame: AgentFrame): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame), (error) => {
      if (error) this.log.warn({ err: error.message, type: frame.type }, 'stream send failed');
    });
    return true;
  }

  /** Reconnects now, skipping any backoff wait (e.g. after the token rotated). */
  restart(): void {
    if (!this.running) return;
    this.immediateReconnect = true;
    if (this.socket) {
      this.socket.terminate();
    } else {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.connect();
    }
  }

  /** Closes cleanly (1000) and stops reconnecting; resolves once the socket is closed. */
  async stop(): Promise<void> {
    this.running = false;
    this.clearTimers();
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(() => {
        socket.terminate();
        resolve();
      }, this.closeTimeoutMs);
      socket.once('close', () => {
        this.clock.clearTimeout(timer);
        resolve();
      });
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000, 'agent shutting down');
    });
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (!this.running) return;
    const token = this.options.token();
    if (!token) {
      this.scheduleReconnect('no api_token yet');
      return;
    }
    let socket: WebSocket;
    let url: string;
    try {
      url = streamUrl(typeof this.options.baseUrl === 'function' ? this.options.baseUrl() : this.options.baseUrl);
      socket = this.createSocket(url, {
        headers: { authorization: `Bearer ${token}` },
        handshakeTimeout: this.handshakeTimeoutMs,
      });
    } catch (error) {
      this.scheduleReconnect((error as Error).message);
      return;
    }
    this.socket = socket;
    let openedAt: number | null = null;
    let failure: string | null = null;
    let alive = true;

    socket.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      failure = `upgrade refused with HTTP ${status}`;
      response.resume();
      socket.terminate();
      if (status === 401) this.emit('unauthorized', token);
    });
    socket.on('error', (error) => {
      failure ??= error.message;
    });
    socket.on('open', () => {
      openedAt = this.clock.now();
      this.consecutiveFailures = 0;
      this.log.info({ url }, 'stream connected');
      this.schedulePing(
        socket,
        () => alive,
        (v) => (alive = v),
      );
      this.emit('open');
    });
    socket.on('pong', () => (alive = true));
    socket.on('ping', () => (alive = true));
    socket.on('message', (data, isBinary) => {
      alive = true;
      this.dispatch(data, isBinary);
    });
    socket.on('close', (code, reasonBuffer) => {
      if (this.socket === socket) this.socket = null;
      this.clock.clearTimeout(this.pingTimer);
      this.pingTimer = null;
      const upMs = openedAt === null ? 0 : this.clock.now() - openedAt;
      if (openedAt !== null && upMs >= this.stableAfterMs) this.backoff.reset();
      const reason = reasonBuffer.toString();
      this.emit('close', { code, reason, wasOpen: openedAt !== null, upMs });
      if (!this.running) return;
      if (openedAt !== null) {
        this.log.warn({ code, reason, upMs }, 'stream disconnected');
        this.scheduleReconnect(null);
      } else {
        this.scheduleReconnect(failure ?? `closed with ${code}`);
      }
    });
  }

  private scheduleReconnect(failure: string | null): void {
    if (!this.running || this.reconnectTimer !== null) return;
    const immediate = this.immediateReconnect;
    this.immediateReconnect = false;
    const delayMs = immediate ? 0 : this.backoff.next();
    if (failure !== null && !immediate) {
      this.consecutiveFailures++;
      // First failure and then every tenth at warn; the rest at debug, so a long outage stays readable.
      const level = this.consecutiveFailures === 1 || this.consecutiveFailures % 10 === 0 ? 'warn' : 'debug';
      this.log[level]({ err: failure, attempt: this.consecutiveFailures, retryInMs: delayMs }, 'stream connect failed');
    }
    this.reconnectTimer = this.clock.setTimeout(() => this.connect(), delayMs);
  }

  private schedulePing(socket: WebSocket, isAlive: () => boolean, setAlive: (v: boolean) => void): void {
    this.pingTimer = this.clock.setTimeout(() => {
      if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
      if (!isAlive()) {
        this.log.warn({ afterMs: this.pingIntervalMs }, 'stream silent since the last ping; dropping it');
        socket.terminate();
        return;
      }
      setAlive(false);
      socket.ping();
      this.schedulePing(socket, isAlive, setAlive);
    }, this.pingIntervalMs);
  }

  private clearTimers(): void {
    this.clock.clearTimeout(this.reconnectTimer);
    this.clock.clearTimeout(this.pingTimer);
    this.reconnectTimer = null;
    this.pingTimer = null;
  }

  private dispatch(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.log.warn('binary stream frame ignored');
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(rawToString(data));
    } catch {
      this.log.warn('stream frame is not JSON; ignored');
      return;
    }
    const parsed = parseServerFrame(frame);
    if (parsed === null) {
      const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
      this.log.warn({ type }, 'unknown or malformed stream frame; ignored');
      return;
    }
    try {
      if (!this.emit(parsed.type, parsed as never)) this.log.debug({ type: parsed.type }, 'no handler for stream frame');
    } catch (error) {
      // A failing handler must not take the connection (or the process) down with it.
      this.log.error({ err: (error as Error).message, type: parsed.type }, 'stream frame handler failed');
    }
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

const str = (v: unknown): v is string => typeof v === 'string';

/** Validates a decoded frame against the known server frame shapes; null for anything else. */
export function parseServerFrame(frame: unknown): ServerFrame | null {
  if (typeof frame !== 'object' || frame === null) return null;
  const f = frame as Record<string, unknown>;
  switch (f.type) {
    case 'welcome':
      if (!str(f.node_id)) return null;
      return {
        type: 'welcome',
        node_id: f.node_id,
        ...(typeof f.health_interval_ms === 'number' && f.health_interval_ms > 0 ? { health_interval_ms: f.health_interval_ms } : {}),
      };
    case 'execution': {
      const e = f.execution as Record<string, unknown> | null | undefined;
      if (typeof e !== 'object' || e === null || !str(e.id) || !str(e.command_text)) return null;
      return {
        type: 'execution',
        execution: {
          id: e.id,
          command_id: str(e.command_id) ? e.command_id : '',
          command_text: e.command_text,
          timeout: typeof e.timeout === 'number' ? e.timeout : null,
          expired_at: str(e.expired_at) ? e.expired_at : null,
          status: str(e.status) ? e.status : 'pending',
          inserted_at: str(e.inserted_at) ? e.inserted_at : '',
        },
      };
    }
    case 'cancel_execution':
      return str(f.id) ? { type: 'cancel_execution', id: f.id } : null;
    case 'self_update':
      return str(f.self_update_request_id) ? { type: 'self_update', self_update_request_id: f.self_update_request_id } : null;
    default:
      return null;
  }
}
