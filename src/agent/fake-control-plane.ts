/**
 * Test double of the control plane's agent face, written from the wire spec (edge-admin §6.4–6.5 and
 * the decided stream protocol) rather than from the server code, which is built concurrently. Used by
 * the agent's own tests only; the real end-to-end run happens against the real server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface FakeNode {
  body: Record<string, unknown>;
  token: string;
  registrations: number;
}

export interface FakeRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export class FakeControlPlane {
  readonly http: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  readonly requests: FakeRequest[] = [];
  readonly nodes = new Map<string, FakeNode>();
  readonly keys = new Map<string, { cluster: string; uses: number | null }>();
  readonly clusters = new Set<string>(['prod']);
  readonly streamFrames: { nodeId: string; frame: unknown }[] = [];
  readonly sockets: { nodeId: string; ws: WebSocket }[] = [];
  readonly pushes: { nodeId: string; metrics_type: string; metrics_text: string }[] = [];
  readonly healthReports: { nodeId: string; status: string }[] = [];
  /** Set false to behave like a server without the stream route (agent stays on HTTP fallback). */
  streamEnabled = true;
  /** Drop `cluster_name` from verify data, like the upstream server does. */
  verifyIncludesClusterName = true;
  healthIntervalMs = 30_000;
  /**
   * Nodeplane's server mode: verify hands out a single-use join ticket (as `netmaker_key`) and
   * registration needs `Bearer <ticket>` the first time, `Bearer <own api_token>` afterwards.
   * Off = the upstream spec's public registration.
   */
  registrationNeedsCredential = false;
  readonly tickets = new Map<string, string>();
  /** Fails registrations with this status until cleared. */
  registrationFailure: { status: number; code: string; message: string; details?: unknown } | null = null;
  private port = 0;

  constructor() {
    this.http = createServer((req, res) => void this.handle(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket, head) => {
      const node = this.nodeByAuth(req.headers.authorization);
      if (!this.streamEnabled || req.url !== '/api/v1/agents/stream') {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      if (!node) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const nodeId = node.body.node_id as string;
        this.sockets.push({ nodeId, ws });
        ws.on('message', (data) => this.streamFrames.push({ nodeId, frame: JSON.parse(data.toString()) }));
        ws.send(JSON.stringify({ type: 'welcome', node_id: nodeId, health_interval_ms: this.healthIntervalMs }));
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<string> {
    this.http.listen(port, '127.0.0.1');
    await once(this.http, 'listening');
    this.port = (this.http.address() as AddressInfo).port;
    return this.url;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Issues a key blob exactly as spec §6.3 builds it. */
  issueKey(cluster = 'prod', uses: number | null = 1, adminUrls = [this.url]): string {
    const key = Buffer.from(JSON.stringify({ admin_urls: adminUrls, nonce: randomBytes(32).toString('base64').replace(/=+$/, '') })).toString('base64');
    this.keys.set(key, { cluster, uses });
    return key;
  }

  /** Forgets a node's token, as a re-registration elsewhere or a delete would. */
  revokeToken(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node) node.token = `revoked-${randomUUID()}`;
    for (const s of this.sockets) if (s.nodeId === nodeId) s.ws.close(4001, 'token revoked');
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  private nodeByAuth(header: string | undefined): FakeNode | null {
    const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    return [...this.nodes.values()].find((n) => n.token === token) ?? null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return this.error(res, 400, 'bad_request', 'Invalid request parameters');
    }
    const path = (req.url ?? '').split('?')[0]!;
    this.requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
    const b = (body ?? {}) as Record<string, unknown>;
    const route = `${req.method} ${path}`;

    if (route === 'POST /api/v1/agents/enrollment_keys/verify') {
      if (typeof b.key !== 'string') return this.error(res, 400, 'bad_request', 'Invalid request parameters', { key: ['Missing field: key'] });
      const key = this.keys.get(b.key);
      let error = '';
      if (!key) error = 'invalid_key';
      else if (key.uses === 0) error = 'key_spent';
      else if (key.uses !== null) key.uses--;
      let ticket = '';
      if (!error && this.registrationNeedsCredential) {
        ticket = randomBytes(24).toString('base64url');
        this.tickets.set(ticket, key!.cluster);
      }
      const data: Record<string, unknown> = { verified: error === '', error, netmaker_key: ticket };
      if (this.verifyIncludesClusterName && key && !error) data.cluster_name = key.cluster;
      return this.ok(res, 200, data);
    }
    if (route === 'POST /api/v1/agents/nodes') {
      const ports = ['http_port', 'ssh_port', 'host_metrics_port', 'wireguard_metrics_port', 'http_proxy_port', 'socks5_proxy_port'];
      const missing = ['node_id', 'network_name', 'id_type', 'version', 'self_update_enabled', ...ports].filter((k) => !(k in b));
      if (missing.length) return this.error(res, 400, 'bad_request', 'Invalid request parameters', Object.fromEntries(missing.map((k) => [k, [`Missing field: ${k}`]])));
      if (ports.some((p) => !Number.isInteger(b[p]) || (b[p] as number) < 1 || (b[p] as number) > 65535)) return this.error(res, 400, 'bad_request', 'Invalid request parameters');
      if (this.registrationFailure) {
        const f = this.registrationFailure;
        return this.error(res, f.status, f.code, f.message, f.details);
      }
      const network = String(b.network_name);
      if (!network.startsWith('cluster-') || !this.clusters.has(network.slice(8))) {
        return this.error(res, 422, 'validation_failed', 'Validation failed', { network_name: ['is invalid'] });
      }
      const nodeId = String(b.node_id);
      const previous = this.nodes.get(nodeId);
      if (this.registrationNeedsCredential) {
        const credential = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        const ownToken = credential !== undefined && previous?.token === credential;
        const ticket = credential !== undefined && this.tickets.get(credential) === network.slice(8);
        if (!ownToken && !ticket) return this.error(res, 401, 'unauthorized', 'Unauthorized');
        if (ticket) this.tickets.delete(credential!);
      }
      const token = randomBytes(32).toString('base64').replace(/=+$/, '');
      this.nodes.set(nodeId, { body: b, token, registrations: (previous?.registrations ?? 0) + 1 });
      return this.ok(res, 201, { node_id: nodeId, api_token: token, proxy_password: randomBytes(32).toString('base64').replace(/=+$/, ''), admin_urls: [this.url], derp_map_url: null });
    }
    const node = this.nodeByAuth(req.headers.authorization);
    if (path.startsWith('/api/v1/agents/') && !node) return this.error(res, 401, 'unauthorized', 'Unauthorized');
    const nodeId = node?.body.node_id as string;
    if (route === 'PATCH /api/v1/agents/nodes/me/health_check') {
      if (b.status !== 'healthy' && b.status !== 'unhealthy') return this.error(res, 400, 'bad_request', 'Invalid request parameters');
      this.healthReports.push({ nodeId, status: b.status });
      return this.ok(res, 200, { id: nodeId, status: b.status, last_seen_at: new Date().toISOString() });
    }
    if (route === 'POST /api/v1/agents/metrics/push') {
      if (!['host', 'agent', 'wireguard'].includes(b.metrics_type as string) || typeof b.metrics_text !== 'string') {
        return this.error(res, 400, 'bad_request', 'Invalid request parameters');
      }
      this.pushes.push({ nodeId, metrics_type: b.metrics_type as string, metrics_text: b.metrics_text });
      return this.ok(res, 200, { id: randomUUID(), node_id: nodeId, metrics_type: b.metrics_type, updated_at: new Date().toISOString() });
    }
    return this.error(res, 404, 'not_found', 'Resource not found');
  }

  private meta() {
    return { request_id: randomUUID(), timestamp: new Date().toISOString() };
  }

  private ok(res: ServerResponse, status: number, data: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ data, meta: this.meta() }));
  }

  private error(res: ServerResponse, status: number, code: string, message: string, details?: unknown): void {
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) }, meta: this.meta() }));
  }
}
