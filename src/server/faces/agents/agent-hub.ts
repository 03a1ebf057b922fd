/**
 * The transport of edge agents' live channels on this instance (kind `edge-agent`): one WebSocket
 * per node, registered with the node-channel seam (src/server/channels/), which routes frames from
 * any instance here and hands received frames to their handlers. Agent frames are validated
 * against src/contract/agent-stream.ts; a frame that does not match is ignored.
 *
 * Presence is WebSocket ping/pong: a socket that misses a pong is terminated, and every answered
 * ping refreshes the node's last_seen_at through the coalescing buffer, so thousands of idle agents
 * cost one batched write per flush, not one per heartbeat. A channel that closes without a
 * replacement makes the node unreachable after a short grace, unless it reconnects or reports
 * meanwhile: waiting for the silence sweep would show a dead node healthy for minutes.
 */
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { Compile } from 'typebox/compile';
import { AgentFrame, STREAM_CLOSE, type ServerFrame } from '../../../contract/agent-stream.ts';
import type { ChannelTransport, Frame, NodeChannels } from '../../channels/node-channels.ts';

/** What the hub needs from the node service. */
export interface NodePresence {
  reportHealth(nodeId: string, status: 'healthy' | 'unhealthy'): Promise<unknown>;
  touch(nodeId: string): void;
  /** The channel closed at `closedAt` and the grace ran out with no new channel here. */
  channelLost(nodeId: string, closedAt: string): Promise<unknown>;
}

interface Channel {
  socket: WebSocket;
  alive: boolean;
  /** Hash of the api_token the channel was opened with. */
  credential: string;
}

export interface AgentHubOptions {
  pingIntervalMs: number;
  healthIntervalMs: number;
  /** How long a node whose channel closed may take to reconnect before it is unreachable. */
  channelGraceMs: number;
}

const MAX_FRAME_BYTES = 64 * 1024;
const agentFrame = Compile(AgentFrame);

export class AgentHub implements ChannelTransport {
  readonly kind = 'edge-agent';
  private readonly sockets = new Map<string, Channel>();
  private readonly graces = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | null = null;
  private pingIntervalMs: number;

  constructor(
    private readonly presence: NodePresence,
    private readonly channels: NodeChannels,
    private readonly log: Logger,
    private readonly options: AgentHubOptions,
  ) {
    this.pingIntervalMs = options.pingIntervalMs;
    channels.register(this);
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Whether this instance holds the node's channel (the seam asks every instance). */
  isConnected(nodeId: string): boolean {
    return this.sockets.has(nodeId);
  }

  holds(nodeId: string): boolean {
    return this.sockets.has(nodeId);
  }

  connectedNodeIds(): IterableIterator<string> {
    return this.sockets.keys();
  }

  /** `credential`: hash of the api_token the socket authenticated with. */
  attach(nodeId: string, socket: WebSocket, credential: string): void {
    const previous = this.sockets.get(nodeId);
    // A node has one live channel; a reconnect (e.g. after re-registration) replaces the old one.
    if (previous) previous.socket.close(STREAM_CLOSE.replaced, 'replaced by a newer connection');
    const channel: Channel = { socket, alive: true, credential };
    this.sockets.set(nodeId, channel);
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
    this.channels.connected(nodeId);
  }

  /**
   * The node's api_token was revoked: close its channel (the agent sees 4401 and re-registers),
   * unless it was opened with `keep`, the token that replaced it.
   */
  revoke(nodeId: string, keep: string | null): void {
    const channel = this.sockets.get(nodeId);
    if (!channel || channel.credential === keep) return;
    this.sockets.delete(nodeId);
    channel.socket.close(STREAM_CLOSE.tokenRevoked, 'api token revoked');
    this.channels.disconnected(nodeId);
  }

  /** True when the frame was handed to an open socket. */
  send(nodeId: string, frame: ServerFrame | Frame): boolean {
    const channel = this.sockets.get(nodeId);
    if (!channel || channel.socket.readyState !== channel.socket.OPEN) return false;
    channel.socket.send(JSON.stringify(frame));
    return true;
  }

  start(): void {
    this.timer = setInterval(() => this.pingAll(), this.pingIntervalMs);
    this.timer.unref();
  }

  /** A new ping period (an operator setting); a running hub re-times its pings at once. */
  setPingInterval(ms: number): void {
    if (ms === this.pingIntervalMs) return;
    this.pingIntervalMs = ms;
    if (!this.timer) return;
    clearInterval(this.timer);
    this.start();
  }

  /** Self-update requests and their acks pair by request id. */
  correlationOf(frame: Frame): string | null {
    if (frame.type === 'self_update' || frame.type === 'self_update_ack') return `self_update ${String(frame.self_update_request_id)}`;
    return null;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Shutting down is not the nodes' fault; whichever instance they reconnect to takes over.
    for (const nodeId of [...this.graces.keys()]) this.endGrace(nodeId);
    for (const { socket } of this.sockets.values()) socket.close(1001, 'server shutting down');
    this.sockets.clear();
  }

  private pingAll(): void {
    for (const [nodeId, channel] of this.sockets) {
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
    if (this.sockets.get(nodeId) !== channel) return;
    this.sockets.delete(nodeId);
    this.channels.disconnected(nodeId);
    const closedAt = new Date().toISOString();
    this.endGrace(nodeId);
    const timer = setTimeout(() => {
      this.graces.delete(nodeId);
      if (this.sockets.has(nodeId)) return;
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

  private receive(nodeId: string, data: Buffer, isBinary: boolean): void {
    if (isBinary || data.length > MAX_FRAME_BYTES) return;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (!agentFrame.Check(frame)) {
      this.log.debug({ nodeId }, 'malformed agent frame ignored');
      return;
    }
    if (frame.type === 'health') {
      this.presence.reportHealth(nodeId, frame.status).catch((error) => this.log.error({ err: error, nodeId }, 'health report failed'));
      return;
    }
    this.channels.received(this, nodeId, frame);
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
