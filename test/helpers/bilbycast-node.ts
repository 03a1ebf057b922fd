/**
 * Emulator of an external agent written from manager-protocol.md §7: the part a bilbycast edge and a
 * bilbycast relay share (their profiles are `bilbycast-edge.ts` and `bilbycast-relay.ts`). It speaks
 * the node WebSocket as the real nodes do: `wss://` only, trusting the manager's certificate (the
 * test CA) or, with `accept_self_signed_cert` semantics, any certificate pinned by fingerprint; the
 * auth frame first and without a timestamp; ≤10 s for the manager's first frame; `register_ack`
 * persists the credentials and continues on the same socket; `health` at once and on every health
 * tick, `stats` every stats tick, `event`s on demand; JSON `ping` → `pong` (ws answers WS pings
 * itself); commands through a `handle(action)` table answered with exactly one `command_ack`
 * (`get_config` with `config_response` instead); reconnects after a fixed delay to the next URL
 * with the persisted credentials.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';

export interface ManagerBlock {
  /** `wss://host:port/ws/node`, tried in turn. */
  urls: string[];
  registration_token?: string;
  node_id?: string;
  node_secret?: string;
  /** PEM the node trusts (stands in for the webpki roots the real node trusts). */
  ca?: string;
  /** `accept_self_signed_cert` + pinning: any certificate whose SHA-256 matches. */
  cert_fingerprint?: string;
}

export interface CommandAck {
  success: boolean;
  data?: unknown;
  error?: string | null;
  error_code?: string;
}

/** A command handler: an ack, or `config_response` (only `get_config`). */
export type CommandHandler = (
  action: Record<string, unknown>,
  node: BilbycastNode,
) => CommandAck | { config: unknown } | Promise<CommandAck | { config: unknown }>;

export interface NodeProfile {
  softwareVersion: string;
  protocolVersion: number;
  health(): Record<string, unknown>;
  stats(): Record<string, unknown>;
  commands: Record<string, CommandHandler>;
  unknownAction(type: string): CommandAck;
}

export interface NodeTimings {
  healthIntervalMs?: number;
  statsIntervalMs?: number;
  reconnectDelayMs?: number;
}

export type AuthReply = { type: 'register_ack' | 'auth_ok' } | { type: 'auth_error'; message: string } | { type: 'no_reply'; detail: string };

export interface Envelope {
  type: string;
  timestamp?: string;
  payload?: any;
  message?: string;
}

const fingerprintOf = (der: Buffer) => createHash('sha256').update(der).digest('hex').match(/../g)!.join(':');

export class BilbycastNode {
  readonly received: Envelope[] = [];
  socket: WebSocket | null = null;
  private urlIndex = 0;
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private waiters: Array<{ match: (frame: Envelope) => boolean; resolve: (frame: Envelope) => void }> = [];
  private sessionWaiters: Array<() => void> = [];
  /** Connections that reached a session (register_ack or auth_ok). */
  sessions = 0;
  /** How long the node works on a command before answering (acks come out of order, as the edge's do). */
  ackDelayMs: (action: Record<string, unknown>) => number = () => 0;
  /** Commands the node carries out without ever answering. */
  neverAck: (action: Record<string, unknown>) => boolean = () => false;

  constructor(
    readonly profile: NodeProfile,
    readonly manager: ManagerBlock,
    readonly timings: NodeTimings = {},
  ) {}

  get nodeId(): string | undefined {
    return this.manager.node_id;
  }

  /** One connection attempt: auth frame, first reply. On success the session runs on this socket. */
  async connect(payloadOverride?: Record<string, unknown>): Promise<AuthReply> {
    const url = this.manager.urls[this.urlIndex % this.manager.urls.length]!;
    this.urlIndex += 1;
    const socket = new WebSocket(url, this.manager.cert_fingerprint ? { rejectUnauthorized: false } : { ca: this.manager.ca });
    this.socket = socket;
    return new Promise<AuthReply>((resolve) => {
      const timer = setTimeout(() => finish({ type: 'no_reply', detail: 'no first frame within 10 s' }), 10_000);
      let done = false;
      const finish = (reply: AuthReply) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(reply);
      };
      socket.on('upgrade', (response) => {
        const pin = this.manager.cert_fingerprint;
        const cert = (response.socket as TLSSocket).getPeerCertificate();
        if (pin && fingerprintOf(cert.raw) !== pin) {
          socket.terminate();
          finish({ type: 'no_reply', detail: 'certificate fingerprint mismatch' });
        }
      });
      socket.on('open', () => socket.send(JSON.stringify({ type: 'auth', payload: payloadOverride ?? this.authPayload() })));
      socket.on('error', (error) => finish({ type: 'no_reply', detail: error.message }));
      socket.on('close', () => {
        finish({ type: 'no_reply', detail: 'closed before any reply' });
        this.stopTimers();
        if (this.socket === socket && this.running) {
          const retry = setTimeout(() => void this.connect(), this.timings.reconnectDelayMs ?? 5_000);
          this.timers.push(retry);
        }
      });
      socket.once('message', (data) => {
        const first = parse(data as Buffer);
        if (first?.type === 'register_ack' && first.payload?.node_id && first.payload?.node_secret) {
          // Persisted as the node does (edge: secrets.json; relay: its config), the token dropped.
          this.manager.node_id = first.payload.node_id;
          this.manager.node_secret = first.payload.node_secret;
          delete this.manager.registration_token;
        } else if (first?.type !== 'auth_ok') {
          return finish(
            first?.type === 'auth_error'
              ? { type: 'auth_error', message: String(first.message) }
              : { type: 'no_reply', detail: `unexpected first frame ${first?.type}` },
          );
        }
        this.record(first);
        socket.on('message', (frame, isBinary) => {
          const envelope = isBinary ? null : parse(frame as Buffer);
          if (envelope) void this.handle(envelope);
        });
        this.beginSession();
        finish({ type: first.type as 'register_ack' | 'auth_ok' });
      });
    });
  }

  /** Connects and keeps reconnecting (fixed delay, next URL) until `stop()`. */
  async run(): Promise<AuthReply> {
    this.running = true;
    return this.connect();
  }

  /** Resolves when the next session (counting from now) starts. */
  nextSession(): Promise<void> {
    return new Promise((resolve) => this.sessionWaiters.push(resolve));
  }

  /** The first frame received so far or later that matches. */
  waitFor(match: (frame: Envelope) => boolean): Promise<Envelope> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  send(type: string, payload: unknown): void {
    this.sendRaw(JSON.stringify({ type, timestamp: new Date().toISOString(), payload }));
  }

  sendRaw(data: string | Buffer): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(data);
  }

  sendHealth(): void {
    this.send('health', this.profile.health());
  }

  sendEvent(event: { severity: string; category?: string; message: string; details?: unknown; flow_id?: string }): void {
    this.send('event', event);
  }

  /** Closes the socket and stops reconnecting. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopTimers();
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close();
    });
  }

  /** The socket closed (by either side): resolves with the close code. */
  closed(): Promise<number> {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
    return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
  }

  private authPayload(): Record<string, unknown> {
    const base = { software_version: this.profile.softwareVersion, protocol_version: this.profile.protocolVersion };
    if (this.manager.node_id && this.manager.node_secret) return { node_id: this.manager.node_id, node_secret: this.manager.node_secret, ...base };
    if (this.manager.registration_token) return { registration_token: this.manager.registration_token, ...base };
    return {};
  }

  private beginSession(): void {
    this.sessions += 1;
    this.sendHealth();
    this.timers.push(setInterval(() => this.sendHealth(), this.timings.healthIntervalMs ?? 15_000));
    this.timers.push(setInterval(() => this.send('stats', this.profile.stats()), this.timings.statsIntervalMs ?? 1_000));
    for (const waiter of this.sessionWaiters.splice(0)) waiter();
  }

  private stopTimers(): void {
    for (const timer of this.timers.splice(0)) clearTimeout(timer);
  }

  private async handle(frame: Envelope): Promise<void> {
    this.record(frame);
    if (frame.type === 'ping') return this.send('pong', null);
    if (frame.type !== 'command') return;
    const commandId = frame.payload?.command_id ?? 'unknown';
    const action = (frame.payload?.action ?? {}) as Record<string, unknown>;
    const type = String(action.type);
    const handler = this.profile.commands[type];
    const delay = this.ackDelayMs(action);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const result = handler ? await handler(action, this) : this.profile.unknownAction(type);
    if (this.neverAck(action)) return;
    if ('config' in result) return this.send('config_response', result.config);
    this.send('command_ack', { command_id: commandId, ...result });
  }

  private record(frame: Envelope): void {
    this.received.push(frame);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(frame)) return true;
      waiter.resolve(frame);
      return false;
    });
  }
}

function parse(data: Buffer): Envelope | null {
  try {
    const value = JSON.parse(data.toString('utf8'));
    return value && typeof value === 'object' && typeof value.type === 'string' ? value : null;
  } catch {
    return null;
  }
}
