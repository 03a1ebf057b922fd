/**
 * "Talk to node X wherever its channel lives." Transports (the agent hub, later the manager WS and
 * mesh SSE) hold sockets on this instance and report connects, closes and received frames here;
 * services send frames, send requests and await the correlated reply, ask who is connected and hear
 * connects, without knowing which instance holds the socket. A frame for a node held elsewhere goes
 * over the signal bus to its holder (found in the directory); a reply goes back the same way.
 *
 * Delivery is best effort: a frame routed to an instance that just lost the channel is dropped. Work
 * that must arrive is in the database and re-offered on connect (and on `onResync` of the bus).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChannelDirectory } from './directory.ts';
import type { SignalBus } from './signal-bus.ts';

export interface Frame {
  type: string;
  [field: string]: unknown;
}

/** A holder of live channels on this instance, for the node kinds it serves. */
export interface ChannelTransport {
  readonly kind: string;
  holds(nodeId: string): boolean;
  connectedNodeIds(): Iterable<string>;
  /** True when the frame was handed to an open socket. */
  send(nodeId: string, frame: Frame): boolean;
  /** Closes the node's channel: its credential was revoked. A channel opened with `keep` stays. */
  revoke(nodeId: string, keep: string | null): void;
  /** The id pairing a request with its reply (the same for both), null for other frames. */
  correlationOf(frame: Frame): string | null;
}

export type ChannelFailure = 'not_connected' | 'closed' | 'timeout' | 'stopped';

export class ChannelError extends Error {
  constructor(readonly reason: ChannelFailure) {
    super(`node channel: ${reason}`);
    this.name = 'ChannelError';
  }
}

type Outcome = { frame: Frame } | { error: ChannelFailure };

/** A request this instance forwarded to a local socket, waiting for the node's reply. */
interface Forwarded {
  requester: string;
  rid: string;
  timer: NodeJS.Timeout;
}

const TOPIC = { frame: 'channel.frame', reply: 'channel.reply', revoke: 'channel.revoke' } as const;

export interface NodeChannelsOptions {
  bus: SignalBus;
  directory: ChannelDirectory;
  log: Logger;
  /** Instance ids with a fresh heartbeat; the directory rows of the others are swept. */
  liveInstanceIds: () => Promise<string[]>;
}

export class NodeChannels {
  private readonly self: string;
  private readonly transports: ChannelTransport[] = [];
  private readonly connectListeners: Array<(nodeId: string) => void> = [];
  private readonly revokeListeners: Array<(nodeId: string) => void> = [];
  private readonly frameHandlers = new Map<string, (nodeId: string, frame: Frame) => void>();
  /** Requests made here, by request id. */
  private readonly waiting = new Map<string, (outcome: Outcome) => void>();
  /** Requests on local sockets, by `<node id> <correlation id>`. */
  private readonly forwarded = new Map<string, Forwarded>();

  constructor(private readonly o: NodeChannelsOptions) {
    this.self = o.bus.instanceId;
    o.bus.subscribe(TOPIC.frame, (data, from) => this.routedFrame(data as RoutedFrame, from));
    o.bus.subscribe(TOPIC.reply, (data) => this.routedReply(data as RoutedReply));
    o.bus.subscribe(TOPIC.revoke, (data, from) => {
      if (from !== this.self) this.revokeHere((data as RoutedRevoke).node, (data as RoutedRevoke).keep);
    });
    // Signals may have been lost: offer connected nodes their waiting work again.
    o.bus.onResync(() => {
      for (const nodeId of this.localNodeIds()) this.emitConnect(nodeId);
    });
  }

  register(transport: ChannelTransport): void {
    this.transports.push(transport);
  }

  // ── What services call ──────────────────────────────────────────────────────────────────────

  /** True when the frame went to a local socket or to the instance holding the node's channel. */
  async send(nodeId: string, frame: Frame): Promise<boolean> {
    return (await this.sendMany([{ nodeId, frame }])) === 1;
  }

  /** Sends each frame (one directory read for all remote ones); returns how many went out. */
  async sendMany(items: ReadonlyArray<{ nodeId: string; frame: Frame }>): Promise<number> {
    let sent = 0;
    const remote: Array<{ nodeId: string; frame: Frame }> = [];
    for (const item of items) {
      const transport = this.local(item.nodeId);
      if (transport) sent += transport.send(item.nodeId, item.frame) ? 1 : 0;
      else remote.push(item);
    }
    if (remote.length === 0) return sent;
    const holders = await this.o.directory.holders([...new Set(remote.map((r) => r.nodeId))]);
    await Promise.all(
      remote.map(async ({ nodeId, frame }) => {
        const holder = holders.get(nodeId);
        if (holder === undefined || holder === this.self) return;
        await this.o.bus.publish(TOPIC.frame, { node: nodeId, frame } satisfies RoutedFrame, holder);
        sent++;
      }),
    );
    return sent;
  }

  /** Sends `frame` and resolves with the node's correlated reply; rejects with a ChannelError. */
  request(nodeId: string, frame: Frame, options: { timeoutMs: number }): Promise<Frame> {
    const rid = randomUUID();
    const done = new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => settle({ error: 'timeout' }), Math.max(0, options.timeoutMs));
      const settle = (outcome: Outcome) => {
        if (!this.waiting.delete(rid)) return;
        clearTimeout(timer);
        if ('frame' in outcome) resolve(outcome.frame);
        else reject(new ChannelError(outcome.error));
      };
      this.waiting.set(rid, settle);
    });
    if (this.local(nodeId)) {
      this.forward(this.self, rid, nodeId, frame, options.timeoutMs);
    } else {
      void this.o.directory
        .holder(nodeId)
        .then((holder) => {
          if (holder === null || holder === this.self) return this.answer(this.self, rid, { error: 'not_connected' });
          return this.o.bus.publish(TOPIC.frame, { node: nodeId, frame, rid, ttl: options.timeoutMs } satisfies RoutedFrame, holder);
        })
        .catch((error) => {
          this.o.log.error({ err: error, nodeId }, 'routing a request to a node failed');
          this.answer(this.self, rid, { error: 'not_connected' });
        });
    }
    return done;
  }

  /** Whether any instance holds a channel to the node. */
  async isConnected(nodeId: string): Promise<boolean> {
    if (this.local(nodeId)) return true;
    const holder = await this.o.directory.holder(nodeId);
    return holder !== null && holder !== this.self;
  }

  /** Called on the holding instance after a node's channel opens (and again on a bus resync). */
  onConnect(listener: (nodeId: string) => void): void {
    this.connectListeners.push(listener);
  }

  /** Frames from nodes that answer no request, by type; called on the holding instance. */
  onFrame(type: string, handler: (nodeId: string, frame: Frame) => void): void {
    this.frameHandlers.set(type, handler);
  }

  /** The node's credential stopped being valid: close its channel wherever it is. */
  revoke(nodeId: string, keep: string | null = null): void {
    this.revokeHere(nodeId, keep, false);
    this.o.bus
      .publish(TOPIC.revoke, { node: nodeId, keep } satisfies RoutedRevoke)
      .catch((error) => this.o.log.error({ err: error, nodeId }, 'signalling a revocation failed'));
  }

  /** A revocation signalled by another instance (e.g. to drop cached credentials). */
  onRevoked(listener: (nodeId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  // ── What transports call ────────────────────────────────────────────────────────────────────

  connected(nodeId: string): void {
    // Listeners run once the row is written: work committed on another instance after their read
    // then finds the row and is routed here, so nothing falls between the two.
    void this.o.directory.held(nodeId).then(() => {
      if (this.local(nodeId)) this.emitConnect(nodeId);
    });
  }

  /** The node's channel closed and no other local channel replaced it. */
  disconnected(nodeId: string): void {
    void this.o.directory.released(nodeId);
    for (const [key, forwarded] of this.forwarded) {
      if (!key.startsWith(`${nodeId} `)) continue;
      this.forwarded.delete(key);
      clearTimeout(forwarded.timer);
      this.answer(forwarded.requester, forwarded.rid, { error: 'closed' });
    }
  }

  received(transport: ChannelTransport, nodeId: string, frame: Frame): void {
    const cid = transport.correlationOf(frame);
    const forwarded = cid === null ? undefined : this.forwarded.get(`${nodeId} ${cid}`);
    if (forwarded) {
      this.forwarded.delete(`${nodeId} ${cid}`);
      clearTimeout(forwarded.timer);
      this.answer(forwarded.requester, forwarded.rid, { frame });
      return;
    }
    const handler = this.frameHandlers.get(frame.type);
    if (!handler) {
      this.o.log.debug({ nodeId, type: frame.type }, 'node frame answering nothing ignored');
      return;
    }
    try {
      handler(nodeId, frame);
    } catch (error) {
      this.o.log.error({ err: error, nodeId, type: frame.type }, 'node frame handler failed');
    }
  }

  // ── Lifecycle ───────────────────────────────────────────────────────────────────────────────

  async start(): Promise<void> {
    await this.o.directory.releaseAll();
    await this.o.bus.start();
  }

  async stop(): Promise<void> {
    for (const settle of [...this.waiting.values()]) settle({ error: 'stopped' });
    for (const forwarded of this.forwarded.values()) clearTimeout(forwarded.timer);
    this.forwarded.clear();
    await this.o.bus.stop();
    await this.o.directory.releaseAll().catch((error) => this.o.log.error({ err: error }, 'releasing node channels failed'));
  }

  // ── Internals ───────────────────────────────────────────────────────────────────────────────

  private local(nodeId: string): ChannelTransport | undefined {
    return this.transports.find((t) => t.holds(nodeId));
  }

  private *localNodeIds(): Iterable<string> {
    for (const transport of this.transports) yield* transport.connectedNodeIds();
  }

  private emitConnect(nodeId: string): void {
    for (const listener of this.connectListeners) {
      try {
        listener(nodeId);
      } catch (error) {
        this.o.log.error({ err: error, nodeId }, 'channel connect listener failed');
      }
    }
  }

  private revokeHere(nodeId: string, keep: string | null, signalled = true): void {
    for (const transport of this.transports) transport.revoke(nodeId, keep);
    if (!signalled) return;
    for (const listener of this.revokeListeners) {
      try {
        listener(nodeId);
      } catch (error) {
        this.o.log.error({ err: error, nodeId }, 'revocation listener failed');
      }
    }
  }

  /** Sends a request frame on a local socket and remembers who waits for the reply. */
  private forward(requester: string, rid: string, nodeId: string, frame: Frame, ttlMs: number): void {
    const transport = this.local(nodeId);
    const cid = transport?.correlationOf(frame) ?? null;
    if (!transport || cid === null) return this.answer(requester, rid, { error: 'not_connected' });
    const key = `${nodeId} ${cid}`;
    const previous = this.forwarded.get(key);
    if (previous) {
      clearTimeout(previous.timer);
      this.answer(previous.requester, previous.rid, { error: 'closed' });
    }
    const timer = setTimeout(
      () => {
        if (this.forwarded.get(key)?.rid === rid) this.forwarded.delete(key);
      },
      Math.max(0, ttlMs),
    );
    timer.unref();
    this.forwarded.set(key, { requester, rid, timer });
    if (!transport.send(nodeId, frame)) {
      this.forwarded.delete(key);
      clearTimeout(timer);
      this.answer(requester, rid, { error: 'not_connected' });
    }
  }

  private answer(requester: string, rid: string, outcome: Outcome): void {
    if (requester === this.self) {
      this.waiting.get(rid)?.(outcome);
      return;
    }
    this.o.bus
      .publish(TOPIC.reply, { rid, ...outcome } satisfies RoutedReply, requester)
      .catch((error) => this.o.log.error({ err: error }, 'routing a node reply failed'));
  }

  private routedFrame(data: RoutedFrame, from: string): void {
    if (typeof data?.node !== 'string' || typeof data.frame?.type !== 'string') return;
    if (typeof data.rid === 'string') return this.forward(from, data.rid, data.node, data.frame, Number(data.ttl) || 0);
    const transport = this.local(data.node);
    if (!transport?.send(data.node, data.frame))
      this.o.log.debug({ nodeId: data.node, type: data.frame.type }, 'routed frame for a channel no longer here dropped');
  }

  private routedReply(data: RoutedReply): void {
    if (typeof data?.rid !== 'string') return;
    this.waiting.get(data.rid)?.('frame' in data ? { frame: data.frame } : { error: data.error });
  }

  /** Drops the directory rows of instances that stopped heartbeating (a scheduled pass). */
  async pruneDeadInstances(): Promise<void> {
    const live = await this.o.liveInstanceIds();
    // Not listed ourselves means the list is not to be trusted (or we are the one being dropped).
    if (live.includes(this.self)) await this.o.directory.prune(live);
  }
}

interface RoutedFrame {
  node: string;
  frame: Frame;
  /** Set on requests: the requester's id for the reply. */
  rid?: string;
  ttl?: number;
}

type RoutedReply = { rid: string } & ({ frame: Frame } | { error: ChannelFailure });

interface RoutedRevoke {
  node: string;
  keep: string | null;
}
