/**
 * Test double of Core's node API (tests and bench only), written from the seed "Core Private Node
 * Routes" and specs/core-node.md §4: eight /node routes, `x-node-auth-key`, NestJS-style errors,
 * `needSync = revision !== current`, ETag/If-None-Match → 304 on config/latest, and the
 * Idempotency-Key the real server accepts on the three ingest routes (a repeated key is acknowledged
 * and not counted again). Everything received is recorded for assertions; failures can be injected.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  route: string;
  body: any;
  key: string | null;
  idempotencyKey: string | null;
  ifNoneMatch: string | null;
  /** The status answered (0 = the connection was dropped). */
  status: number;
  at: number;
}

type Injection = { status: number; message?: string } | { hold: Promise<void>; then?: 'answer' | 'drop' };

export class FakeCoreServer {
  readonly codes = new Set<string>();
  /** authKey → nodeId */
  readonly keys = new Map<string, number>();
  readonly received: Received[] = [];
  /** Ingest bodies counted once per Idempotency-Key (what Core would store). */
  readonly counted: Received[] = [];
  readonly seenKeys = new Set<string>();
  revision = 1;
  config: { clientMap: Record<string, { userId: number; subscriptionId: number | null }>; services: Record<string, unknown> } = { clientMap: {}, services: {} };
  nextNodeId = 1;
  private readonly injections = new Map<string, Injection[]>();
  private server: http.Server | null = null;
  url = '';

  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }

  /** A new desired config: bumps the revision, as Core does on any change. */
  setConfig(config: FakeCoreServer['config']): number {
    this.config = structuredClone(config);
    return ++this.revision;
  }

  /** The next request to `route` gets this status, or waits for `hold` (then answers or drops). */
  inject(route: string, injection: Injection): void {
    const list = this.injections.get(route) ?? [];
    list.push(injection);
    this.injections.set(route, list);
  }

  revokeAllKeys(): void {
    this.keys.clear();
  }

  on(route: string): Received[] {
    return this.received.filter((r) => r.route === route);
  }

  /** Sum of counted usage bytes per userId. */
  usageByUser(): Map<number, { up: number; down: number }> {
    const out = new Map<number, { up: number; down: number }>();
    for (const r of this.counted.filter((c) => c.route === '/node/usage')) {
      for (const e of r.body.entries) {
        const t = out.get(e.userId) ?? { up: 0, down: 0 };
        t.up += e.bytesUp;
        t.down += e.bytesDown;
        out.set(e.userId, t);
      }
    }
    return out;
  }

  private configBody(): string {
    return JSON.stringify({ revision: this.revision, clientMap: this.config.clientMap, services: this.config.services });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return this.error(res, 400, 'Invalid JSON body');
    }
    const route = (req.url ?? '').split('?')[0]!;
    const key = (req.headers['x-node-auth-key'] as string | undefined) ?? null;
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const ifNoneMatch = (req.headers['if-none-match'] as string | undefined) ?? null;
    const record: Received = { route, body, key, idempotencyKey, ifNoneMatch, status: 0, at: Date.now() };
    res.once('finish', () => (record.status = res.statusCode));
    this.received.push(record);

    const injection = this.injections.get(route)?.shift();
    if (injection && 'hold' in injection) {
      await injection.hold;
      if (injection.then === 'drop') {
        req.socket.destroy();
        return;
      }
    } else if (injection) {
      return this.error(res, injection.status, injection.message ?? 'injected');
    }

    if (route === '/node/register' && req.method === 'POST') {
      if (!body || typeof body.code !== 'string' || !this.codes.has(body.code)) return this.error(res, 404, 'Registration code not found');
      for (const f of ['name', 'host', 'ip', 'region']) if (typeof body[f] !== 'string') return this.error(res, 400, [`${f} must be a string`]);
      const authKey = randomBytes(32).toString('hex');
      const nodeId = this.nextNodeId++;
      this.keys.set(authKey, nodeId);
      return this.json(res, 201, { authKey, nodeId });
    }
    if (!key || !this.keys.has(key)) return this.error(res, 401, 'Invalid node auth key');

    if (route === '/node/heartbeat' && req.method === 'POST') {
      const needSync = body?.revision === undefined || body.revision !== this.revision;
      return this.json(res, 200, { ok: true, needSync });
    }
    if (route === '/node/config/latest' && req.method === 'GET') {
      const payload = this.configBody();
      const etag = `"${createHash('sha1').update(payload).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag });
        return void res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json', etag });
      return void res.end(payload);
    }
    if (route === '/node/config/applied' || route === '/node/error') return this.json(res, 201, { ok: true });
    if (route === '/node/usage' || route === '/node/outbound-usage' || route === '/node/session-events') {
      if (!idempotencyKey || !this.seenKeys.has(idempotencyKey)) {
        if (idempotencyKey) this.seenKeys.add(idempotencyKey);
        this.counted.push(record);
      }
      return this.json(res, 201, { ok: true });
    }
    return this.error(res, 404, `Cannot ${req.method} ${route}`);
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private error(res: http.ServerResponse, status: number, message: string | string[]): void {
    const reason: Record<number, string> = {
      400: 'Bad Request',
      401: 'Unauthorized',
      404: 'Not Found',
      409: 'Conflict',
      500: 'Internal Server Error',
      503: 'Service Unavailable',
    };
    this.json(res, status, { statusCode: status, message, error: reason[status] ?? 'Error' });
  }
}
