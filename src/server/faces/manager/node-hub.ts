/**
 * The transport of the manager's node WebSocket (`/ws/node`, manager spec §1), kind `manager`: the
 * auth handshake, then one live session per node registered with the node-channel seam. A new
 * session of a node replaces the old one; the old socket's close is then not the node going
 * offline (each session checks it is still the current one before it reports anything).
 *
 * The manager's first frame is the auth reply, so nothing else is sent before it. Liveness: a JSON
 * `ping` every keepalive period; a session silent for the offline threshold is terminated. Frames
 * over 5 MB are dropped and the socket kept, as the manager does; `ws` accepts up to
 * WS_MAX_PAYLOAD so that such a frame can be dropped rather than kill the socket.
 */
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { ChannelTransport, Frame, NodeChannels } from '../../channels/node-channels.ts';
import type { AuthOutcome, NodeSessionService } from '../../modules/manager/node-session.service.ts';
import { CONFIG_CORRELATION } from '../../modules/manager/node-command.service.ts';
import type { HandshakeFailure, ManagerHubMetrics } from './hub-metrics.ts';

export const MAX_FRAME_BYTES = 5 * 1024 * 1024;
/** Beyond this `ws` closes the socket (1009): the bound on what one frame can cost us. */
export const WS_MAX_PAYLOAD = 16 * 1024 * 1024;

export const CLOSE = { replaced: 4000, deleted: 4004, authFailed: 1008, shutdown: 1001 } as const;

export interface ManagerHubOptions {
  authTimeoutMs: number;
  pingIntervalMs: () => number;
  offlineAfterMs: () => number;
  metrics: ManagerHubMetrics;
}

interface Session {
  nodeId: string;
  socket: WebSocket;
  lastHeard: number;
  /** This session's database writes, in order (connect first, disconnect last). */
  writes: Promise<void>;
}

const stamp = () => new Date().toISOString();

export class ManagerNodeHub implements ChannelTransport {
  readonly kind = 'manager';
  private readonly sessions = new Map<string, Session>();
  /** Sockets still in the handshake, closed on shutdown too. */
  private readonly handshaking = new Set<WebSocket>();
  private timer: NodeJS.Timeout | null = null;
  private period = 0;
  private readonly closedListeners: Array<(nodeId: string) => Promise<void>> = [];

  constructor(
    private readonly service: NodeSessionService,
    private readonly channels: NodeChannels,
    private readonly log: Logger,
    private readonly options: ManagerHubOptions,
  ) {
    channels.register(this);
  }

  get size(): number {
    return this.sessions.size;
  }

  holds(nodeId: string): boolean {
    return this.sessions.has(nodeId);
  }

  connectedNodeIds(): IterableIterator<string> {
    return this.sessions.keys();
  }

  /** After a node's session ended here and the node was recorded offline (not when it was replaced). */
  onClosed(listener: (nodeId: string) => Promise<void>): void {
    this.closedListeners.push(listener);
  }

  /** A new socket on /ws/node: its first frame must be the auth frame, within the auth timeout. */
  accept(socket: WebSocket): void {
    this.handshaking.add(socket);
    let answered = false;
    const timeout = setTimeout(() => refuse('timeout', 'Authentication timeout'), this.options.authTimeoutMs);
    const refuse = (reason: HandshakeFailure, message: string) => {
      answered = true;
      this.options.metrics.authFailed(reason);
      clearTimeout(timeout);
      this.handshaking.delete(socket);
      if (socket.readyState !== socket.OPEN) return;
      socket.send(JSON.stringify({ type: 'auth_error', message }));
      socket.close(CLOSE.authFailed, 'authentication failed');
    };
    socket.on('error', (error) => this.log.debug({ err: error }, 'manager node socket error'));
    socket.on('close', () => {
      clearTimeout(timeout);
      this.handshaking.delete(socket);
    });
    socket.once('message', (data, isBinary) => {
      if (answered) return;
      const frame = isBinary ? null : parse(data as Buffer);
      if (frame?.type !== 'auth') return refuse('bad_first_frame', 'Expected an auth message');
      clearTimeout(timeout);
      answered = true;
      this.service
        .authenticate(frame.payload)
        .then((outcome) => (outcome.kind === 'refused' ? refuse(outcome.reason, outcome.message) : this.begin(socket, outcome)))
        .catch((error) => {
          this.log.error({ err: error }, 'manager node authentication failed');
          refuse('internal', 'Internal error');
        });
    });
  }

  private begin(socket: WebSocket, outcome: Exclude<AuthOutcome, { kind: 'refused' }>): void {
    this.handshaking.delete(socket);
    if (socket.readyState !== socket.OPEN) return;
    const { nodeId } = outcome;
    socket.send(
      JSON.stringify(
        outcome.kind === 'registered'
          ? { type: 'register_ack', timestamp: stamp(), payload: { node_id: nodeId, node_secret: outcome.nodeSecret } }
          : { type: 'auth_ok', timestamp: stamp() },
      ),
    );
    const previous = this.sessions.get(nodeId);
    const session: Session = { nodeId, socket, lastHeard: Date.now(), writes: Promise.resolve() };
    this.sessions.set(nodeId, session);
    if (previous) previous.socket.close(CLOSE.replaced, 'replaced by a newer connection');
    // The previous session's writes finish first, so its last word cannot land after ours.
    session.writes = (previous?.writes ?? Promise.resolve()).then(() => this.service.connected(nodeId, outcome.protocolVersion)).catch(this.failed(nodeId));
    void session.writes.then(() => {
      if (this.sessions.get(nodeId) === session) this.channels.connected(nodeId);
    });
    socket.on('message', (data, isBinary) => this.receive(session, data as Buffer, isBinary));
    socket.on('close', () => this.ended(session));
  }

  /** A deleted node: its session ends here without reporting the node offline. */
  revoke(nodeId: string, _keep: string | null): void {
    const session = this.sessions.get(nodeId);
    if (!session) return;
    this.sessions.delete(nodeId);
    this.service.forget(nodeId);
    session.socket.close(CLOSE.deleted, 'node deleted');
    this.channels.disconnected(nodeId);
  }

  send(nodeId: string, frame: Frame): boolean {
    const session = this.sessions.get(nodeId);
    if (!session || session.socket.readyState !== session.socket.OPEN) return false;
    session.socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Commands and their acks pair by `payload.command_id` (§2.1); a `get_config` is answered by a
   * `config_response` that carries no id, so the node's next one answers it.
   */
  correlationOf(frame: Frame): string | null {
    if (frame.type === 'config_response') return CONFIG_CORRELATION;
    if (frame.type !== 'command' && frame.type !== 'command_ack') return null;
    const action = (frame.payload as { action?: { type?: unknown } } | null | undefined)?.action;
    if (frame.type === 'command' && action?.type === 'get_config') return CONFIG_CORRELATION;
    const id = (frame.payload as { command_id?: unknown } | null | undefined)?.command_id;
    return typeof id === 'string' ? `command ${id}` : null;
  }

  start(): void {
    this.period = this.options.pingIntervalMs();
    this.timer = setInterval(() => this.tick(), this.period);
    this.timer.unref();
  }

  /** A new keepalive period (an operator setting) re-times a running hub at once. */
  retime(): void {
    if (!this.timer || this.options.pingIntervalMs() === this.period) return;
    clearInterval(this.timer);
    this.start();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const socket of this.handshaking) socket.close(CLOSE.shutdown, 'server shutting down');
    for (const session of sessions) session.socket.close(CLOSE.shutdown, 'server shutting down');
    await Promise.all(sessions.map((s) => s.writes));
    await this.service.releaseHeld().catch(this.failed('*'));
  }

  private tick(): void {
    const now = Date.now();
    const silentAfter = this.options.offlineAfterMs();
    const ping = JSON.stringify({ type: 'ping', timestamp: stamp(), payload: null });
    for (const session of this.sessions.values()) {
      if (now - session.lastHeard > silentAfter) session.socket.terminate();
      else if (session.socket.readyState === session.socket.OPEN) session.socket.send(ping);
    }
  }

  private ended(session: Session): void {
    if (this.sessions.get(session.nodeId) !== session) return;
    this.sessions.delete(session.nodeId);
    this.channels.disconnected(session.nodeId);
    session.writes = session.writes
      .then(() => this.service.disconnected(session.nodeId))
      .then(() => Promise.all(this.closedListeners.map((listener) => listener(session.nodeId))))
      .then(() => undefined)
      .catch(this.failed(session.nodeId));
  }

  private receive(session: Session, data: Buffer, isBinary: boolean): void {
    session.lastHeard = Date.now();
    if (isBinary) return;
    if (data.length > MAX_FRAME_BYTES) {
      this.options.metrics.oversize();
      this.log.warn({ nodeId: session.nodeId, bytes: data.length }, 'manager node frame over 5 MB dropped');
      return;
    }
    const frame = parse(data);
    if (!frame || this.sessions.get(session.nodeId) !== session) return;
    const { nodeId } = session;
    this.options.metrics.received(frame.type);
    switch (frame.type) {
      case 'stats':
        return this.service.stats(nodeId, frame.payload);
      case 'health':
        session.writes = session.writes.then(() => this.service.health(nodeId, frame.payload)).catch(this.failed(nodeId));
        return;
      case 'event':
        session.writes = session.writes.then(() => this.service.event(nodeId, frame.payload)).catch(this.failed(nodeId));
        return;
      case 'pong':
        return;
      default:
        this.channels.received(this, nodeId, frame);
    }
  }

  private failed(nodeId: string) {
    return (error: unknown) => this.log.error({ err: error, nodeId }, 'manager node session write failed');
  }
}

function parse(data: Buffer): Frame | null {
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return value !== null && typeof value === 'object' && typeof (value as Frame).type === 'string' ? (value as Frame) : null;
  } catch {
    return null;
  }
}
