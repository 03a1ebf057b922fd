/**
 * Live channels of connected agents on this instance: one WebSocket per node, used to push work the
 * moment it exists. Presence is WebSocket ping/pong: a socket that misses a pong is terminated, and
 * every answered ping refreshes the node's last_seen_at through the coalescing buffer, so thousands
 * of idle agents cost one batched write per flush, not one per heartbeat. A channel that closes
 * without a replacement makes the node unreachable after a short grace, unless it reconnects or
 * reports meanwhile: waiting for the silence sweep would show a dead node healthy for minutes.
 */
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

/** What the hub needs from the node service. */
export interface NodePresence {
  reportHealth(nodeId: string, status: 'healthy' | 'unhealthy'): Promise<unknown>;
  touch(nodeId: string): void;
  /** The channel closed at `closedAt` and the grace ran out with no new channel here. */
  channelLost(nodeId: string, closedAt: string): Promise<unknown>;
}

import { STREAM_CLOSE, type ServerFrame } from '../../../contract/agent-stream.ts';

interface Channel {
  socket: WebSocket;
  alive: boolean;
}

export interface AgentHubOptions {
  pingIntervalMs: number;
  healthIntervalMs: number;
  /** How long a node whose channel closed may take to reconnect before it is unreachable. */
  channelGraceMs: number;
}

const MAX_FRAME_BYTES = 64 * 1024;

/** Handles one frame type from agents; `frame` is parsed JSON, unvalidated: check every field. */
export type FrameHandler = (nodeId: string, frame: Record<string, unknown>) => void;

export class AgentHub {
  private readonly channels = new Map<string, Channel>();
  private readonly handlers = new Map<string, FrameHandler>();
  private readonly connectListeners: Array<(nodeId: string) => void> = [];
  private readonly graces = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly presence: NodePresence,
    private readonly log: Logger,
    private readonly options: AgentHubOptions,
  ) {
    this.onFrame('health', (nodeId, frame) => this.health(nodeId, frame));
  }

  get size(): number {
    return this.channels.size;
  }

  /** Registers the handler of agent frames of `type` (one per type). */
  onFrame(type: string, handler: FrameHandler): void {
    this.handlers.set(type, handler);
  }

  /** Called after a node's channel opens (e.g. to push work that waited for it). */
  onConnect(listener: (nodeId: string) => void): void {
    this.connectListeners.push(listener);
  }

  isConnected(nodeId: string): boolean {
    return this.channels.has(nodeId);
  }

  connectedNodeIds(): IterableIterator<string> {
    return this.channels.keys();
  }

  attach(nodeId: string, socket: WebSocket): void {
    const previous = this.channels.get(nodeId);
    // A node has one live channel; a reconnect (e.g. after re-registration) replaces the old one.
    if (previous) previous.socket.close(STREAM_CLOSE.replaced, 'replaced by a newer connection');
    const channel: Channel = { socket, alive: true };
    this.channels.set(nodeId, channel);
    this.endGrace(nodeId);

    socket.on('pong', () => {
      channel.alive = true;
      this.presence.touch(nodeId);
    });
    socket.on('message', (data, isBinary) => this.receive(nodeId, data as Buffer, isBinary));
    socket.on('close', () => this.lost(nodeId, channel));
    socket.on('error', (error) => this.log.debug({ err: error, nodeId }, 'agent stream error'));

    this.send(nodeId, { type: 'welcome', node_id: nodeId, health_interval_ms: this.options.healthIntervalMs });
    this.presence.reportHealth(nodeId, 'healthy').catch((error) => this.log.error({ err: error, nodeId }, 'marking a connected node healthy failed'));
    for (const listener of this.connectListeners) {
      try {
        listener(nodeId);
      } catch (error) {
        this.log.error({ err: error, nodeId }, 'stream connect listener failed');
      }
    }
  }

  /** Closes a node's channel (its token was revoked); the agent sees `code` and reacts. */
  disconnect(nodeId: string, code: number, reason: string): void {
    const channel = this.channels.get(nodeId);
    if (!channel) return;
    this.channels.delete(nodeId);
    channel.socket.close(code, reason);
  }

  /** True when the frame was handed to an open socket. */
  send(nodeId: string, frame: ServerFrame): boolean {
    const channel = this.channels.get(nodeId);
    if (!channel || channel.socket.readyState !== channel.socket.OPEN) return false;
    channel.socket.send(JSON.stringify(frame));
    return true;
  }

  start(): void {
    this.timer = setInterval(() => this.pingAll(), this.options.pingIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Shutting down is not the nodes' fault; whichever instance they reconnect to takes over.
    for (const nodeId of [...this.graces.keys()]) this.endGrace(nodeId);
    for (const { socket } of this.channels.values()) socket.close(1001, 'server shutting down');
    this.channels.clear();
  }

  private pingAll(): void {
    for (const [nodeId, channel] of this.channels) {
      if (!channel.alive) {
        channel.socket.terminate();
        this.lost(nodeId, channel);
        continue;
      }
      channel.alive = false;
      channel.socket.ping();
    }
  }

  /** A channel ended on its own (agent gone, network cut, missed pong): start the grace. */
  private lost(nodeId: string, channel: Channel): void {
    if (this.channels.get(nodeId) !== channel) return;
    this.channels.delete(nodeId);
    const closedAt = new Date().toISOString();
    this.endGrace(nodeId);
    const timer = setTimeout(() => {
      this.graces.delete(nodeId);
      if (this.channels.has(nodeId)) return;
      this.presence.channelLost(nodeId, closedAt).catch((error) => this.log.error({ err: error, nodeId }, 'marking a disconnected node unreachable failed'));
    }, this.options.channelGraceMs);
    timer.unref();
    this.graces.set(nodeId, timer);
  }

  private endGrace(nodeId: string): void {
    const timer = this.graces.get(nodeId);
    if (timer) clearTimeout(timer);
    this.graces.delete(nodeId);
  }

  private health(nodeId: string, frame: Record<string, unknown>): void {
    const { status } = frame;
    if (status !== 'healthy' && status !== 'unhealthy') return;
    this.presence.reportHealth(nodeId, status).catch((error) => this.log.error({ err: error, nodeId }, 'health report failed'));
  }

  private receive(nodeId: string, data: Buffer, isBinary: boolean): void {
    if (isBinary || data.length > MAX_FRAME_BYTES) return;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return;
    const { type } = frame as { type?: unknown };
    const handler = typeof type === 'string' ? this.handlers.get(type) : undefined;
    if (!handler) return;
    try {
      handler(nodeId, frame as Record<string, unknown>);
    } catch (error) {
      this.log.error({ err: error, nodeId, type }, 'agent frame handler failed');
    }
  }
}

/** `nodeplane_agent_streams_connected`: live channels held by this instance. */
export function registerAgentHubMetrics(registry: Registry, hub: AgentHub): void {
  new Gauge({
    name: 'nodeplane_agent_streams_connected',
    help: 'Agents holding a live channel to this instance',
    registers: [registry],
    collect() {
      this.set(hub.size);
    },
  });
}
