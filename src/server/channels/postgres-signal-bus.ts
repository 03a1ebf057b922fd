/**
 * The signal bus over Postgres LISTEN/NOTIFY. Publishing is a `pg_notify` through the pool; a
 * dedicated client LISTENs and reconnects with backoff when its connection drops. Notifications
 * sent while it was away are gone, so every reconnect after the first connect raises `onResync`.
 *
 * NOTIFY payloads stop at 8000 bytes. A larger signal (an execution frame with a long command) is
 * chunked: base64 parts of one message, all sent in one statement so they commit together and
 * arrive in order, reassembled by the receiver. Parts of a message that never completes are
 * dropped after a while.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { type Signal, type SignalBus, type SignalHandler, SignalRouter } from './signal-bus.ts';

const SIGNAL_CHANNEL = 'nodeplane_signals';
/** Below NOTIFY's 8000-byte limit with room for the chunk envelope. */
const MAX_PAYLOAD_BYTES = 7800;
const CHUNK_CHARS = 7000;
const PARTIAL_TTL_MS = 30_000;
const RECONNECT_MAX_MS = 5000;

interface Whole {
  t: string;
  f: string;
  o: string | null;
  d: unknown;
}

interface Part {
  k: string;
  i: number;
  n: number;
  f: string;
  o: string | null;
  p: string;
}

export class PostgresSignalBus implements SignalBus {
  private readonly router: SignalRouter;
  private client: pg.Client | null = null;
  private running = false;
  private connectedOnce = false;
  private retryMs = 100;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly partials = new Map<string, { parts: string[]; got: number; expires: number }>();

  constructor(
    readonly instanceId: string,
    private readonly db: Kysely<any>,
    private readonly connectionString: string,
    private readonly onError: (error: unknown, topic: string) => void,
  ) {
    this.router = new SignalRouter(instanceId, onError);
  }

  async publish(topic: string, data: unknown, to?: string): Promise<void> {
    const whole: Whole = { t: topic, f: this.instanceId, o: to ?? null, d: data };
    const text = JSON.stringify(whole);
    const payloads = Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES ? [text] : this.chunk(whole, text);
    const calls = sql.join(payloads.map((p) => sql`pg_notify(${SIGNAL_CHANNEL}, ${p})`));
    await sql`select ${calls}`.execute(this.db);
  }

  subscribe(topic: string, handler: SignalHandler): void {
    this.router.subscribe(topic, handler);
  }

  onResync(listener: () => void): void {
    this.router.onResync(listener);
  }

  /** Resolves once LISTEN is in place, so nothing published after start() is missed. */
  async start(): Promise<void> {
    this.running = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private chunk(whole: Whole, text: string): string[] {
    const body = Buffer.from(text).toString('base64');
    const n = Math.ceil(body.length / CHUNK_CHARS);
    const k = randomUUID();
    return Array.from({ length: n }, (_, i) =>
      JSON.stringify({ k, i, n, f: whole.f, o: whole.o, p: body.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS) } satisfies Part),
    );
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', (message) => this.receive(message.payload));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN ${SIGNAL_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      if (!this.connectedOnce) throw error;
      this.lost(client, error);
      return;
    }
    if (!this.running) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMs = 100;
    if (this.connectedOnce) this.router.resync();
    this.connectedOnce = true;
  }

  private lost(client: pg.Client, error: unknown): void {
    if (error) this.onError(error, 'listen');
    if (this.client === client) this.client = null;
    if (!this.running || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running && this.client === null) void this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
  }

  private receive(payload: string | undefined): void {
    if (!payload) return;
    let message: Whole | Part;
    try {
      message = JSON.parse(payload);
    } catch (error) {
      this.onError(error, 'parse');
      return;
    }
    if (message.o !== null && message.o !== this.instanceId) return;
    if ('k' in message) {
      const whole = this.assemble(message);
      if (whole) this.router.deliver(signalOf(whole));
      return;
    }
    this.router.deliver(signalOf(message));
  }

  private assemble(part: Part): Whole | null {
    const now = Date.now();
    for (const [key, partial] of this.partials) if (partial.expires < now) this.partials.delete(key);
    const partial = this.partials.get(part.k) ?? { parts: new Array<string>(part.n), got: 0, expires: now + PARTIAL_TTL_MS };
    if (partial.parts[part.i] === undefined) partial.got++;
    partial.parts[part.i] = part.p;
    if (partial.got < part.n) {
      this.partials.set(part.k, partial);
      return null;
    }
    this.partials.delete(part.k);
    return JSON.parse(Buffer.from(partial.parts.join(''), 'base64').toString('utf8'));
  }
}

const signalOf = (w: Whole): Signal => ({ topic: w.t, from: w.f, to: w.o, data: w.d });
