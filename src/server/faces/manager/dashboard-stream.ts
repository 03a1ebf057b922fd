/**
 * `dashboard_update` to browsers (manager spec §4): the nodes with a session on this instance, their
 * latest stats and health, and their driver metrics. Coalesced to a fixed tick of
 * `stats_broadcast_interval_ms`: sent when anything changed, else every 5 s as a keep-alive. Each
 * client sees only its operator's nodes; a client that has not drained its last update skips the
 * tick (nothing is queued for it), so one slow browser never holds memory or delays the others.
 */
import type { WebSocket } from 'ws';
import { canTouchNode } from '../../access.ts';
import type { DeviceTypesService } from '../../modules/manager-devices/device-types.service.ts';
import type { NodeSessionService } from '../../modules/manager/node-session.service.ts';
import type { OperatorPrincipal } from '../../principal.ts';

const KEEPALIVE_MS = 5_000;
/** Bytes a client may leave unsent before its ticks are skipped. */
const MAX_BUFFERED = 1024 * 1024;

interface Client {
  socket: WebSocket;
  principal: OperatorPrincipal;
  sentAt: number;
}

export class DashboardStream {
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | null = null;
  private sentRevision = -1;

  constructor(
    private readonly sessions: NodeSessionService,
    private readonly deviceTypes: DeviceTypesService,
    private readonly intervalMs: () => number,
  ) {}

  add(socket: WebSocket, principal: OperatorPrincipal): void {
    const client: Client = { socket, principal, sentAt: 0 };
    this.clients.add(client);
    // Browser frames carry nothing the manager reads.
    socket.on('message', () => {});
    socket.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    });
    socket.on('error', () => socket.terminate());
    this.send(client, this.snapshot());
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer || this.clients.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick();
      this.schedule();
    }, this.intervalMs());
    this.timer.unref();
  }

  private tick(): void {
    const { revision } = this.sessions.liveNodes();
    const changed = revision !== this.sentRevision;
    this.sentRevision = revision;
    const now = Date.now();
    const nodes = this.snapshot();
    for (const client of this.clients) if (changed || now - client.sentAt >= KEEPALIVE_MS) this.send(client, nodes);
  }

  private snapshot() {
    const now = Date.now();
    const stats = this.sessions.latestStats();
    return [...this.sessions.liveNodes().nodes.values()].map((node) => {
      const latest = stats.get(node.nodeId)?.payload ?? null;
      return {
        node_id: node.nodeId,
        name: node.name,
        device_type: node.deviceType,
        status: 'online',
        stats: latest,
        health: node.health,
        software_version: node.softwareVersion,
        protocol_version: node.protocolVersion,
        uptime_secs: Math.floor((now - node.connectedAt) / 1000),
        driver_metrics: this.deviceTypes.metrics(node.deviceType, latest),
      };
    });
  }

  private send(client: Client, nodes: ReturnType<DashboardStream['snapshot']>): void {
    if (client.socket.readyState !== client.socket.OPEN || client.socket.bufferedAmount > MAX_BUFFERED) return;
    const visible = nodes.filter((node) => canTouchNode(client.principal, node.node_id));
    client.socket.send(JSON.stringify({ type: 'dashboard_update', online_count: visible.length, nodes: visible }));
    client.sentAt = Date.now();
  }
}
