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
  /** The raw query string without `?` ('' when none). */
  query: string;
  authorization: string | undefined;
  body: unknown;
}

/** A command execution as the server keeps it (spec §3.2 CommandExecution, §8.3). */
export interface FakeExecution {
  id: string;
  command_id: string;
  node_id: string;
  command_text: string;
  timeout: number | null;
  expired_at: string | null;
  status: 'pending' | 'sent' | 'completed' | 'cancelled' | 'expired';
  output: string | null;
  exit_code: number | null;
  sent_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  inserted_at: string;
}

const EXECUTION_STATUSES = ['pending', 'sent', 'completed', 'cancelled', 'expired'];

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
  readonly executions = new Map<string, FakeExecution>();
  /** Every result call, with the status the fake answered. */
  readonly resultCalls: { id: string; body: Record<string, unknown>; answer: number }[] = [];
  /** Statuses the next result calls get instead of being processed (e.g. [503, 503]), in order. */
  resultFailures: number[] = [];
  /** Same for acknowledge calls. */
  ackFailures: number[] = [];
  /** This many acknowledge calls take effect but answer 503, like a reply lost on the way back. */
  ackAnswersLost = 0;
  /** Push a node's pending executions whenever its stream opens, as the contract says. */
  pushPendingOnOpen = true;
  /** Answer of `GET /api/v1/agents/self_updates/check` (spec §10). */
  selfUpdateCheck: { including_me: boolean; inserted_at: string | null } = { including_me: false, inserted_at: null };
  private port = 0;

  constructor() {
    this.http = createServer((req, res) => void this.handle(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket, head) => {
      // The agent may reset a refused upgrade before our answer is out; that is not a test failure.
      socket.on('error', () => {});
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
        if (this.pushPendingOnOpen) {
          for (const e of this.executions.values()) {
            if (e.node_id === nodeId && e.status === 'pending') ws.send(JSON.stringify({ type: 'execution', execution: agentItem(e) }));
          }
        }
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

  /** Creates a pending execution for a node (spec §8.2) and pushes it if the node's stream is open. */
  addExecution(
    nodeId: string,
    fields: { command_text: string; timeout?: number | null; expired_at?: string | null; status?: FakeExecution['status']; push?: boolean },
  ): FakeExecution {
    const execution: FakeExecution = {
      id: randomUUID(),
      command_id: randomUUID(),
      node_id: nodeId,
      command_text: fields.command_text,
      timeout: fields.timeout ?? null,
      expired_at: fields.expired_at ?? null,
      status: fields.status ?? 'pending',
      output: null,
      exit_code: null,
      sent_at: fields.status === 'sent' ? new Date().toISOString() : null,
      completed_at: null,
      cancelled_at: null,
      inserted_at: new Date(Date.now() + this.executions.size).toISOString(),
    };
    this.executions.set(execution.id, execution);
    if (fields.push !== false && execution.status === 'pending') this.pushExecution(execution.id);
    return execution;
  }

  /** Sends an `execution` frame (again) to every open socket of the execution's node. */
  pushExecution(id: string): void {
    const e = this.executions.get(id)!;
    this.sendTo(e.node_id, { type: 'execution', execution: agentItem(e) });
  }

  /** The admin cancel of spec §8.3: pending → cancelled here; sent → ask the agent. */
  cancelExecution(id: string): void {
    const e = this.executions.get(id)!;
    if (e.status === 'pending') {
      e.status = 'cancelled';
      e.cancelled_at = new Date().toISOString();
    } else if (e.status === 'sent') {
      this.sendTo(e.node_id, { type: 'cancel_execution', id });
    }
  }

  pushSelfUpdate(nodeId: string, requestId: string): void {
    this.sendTo(nodeId, { type: 'self_update', self_update_request_id: requestId });
  }

  sendTo(nodeId: string, frame: unknown): void {
    for (const s of this.sockets) if (s.nodeId === nodeId && s.ws.readyState === s.ws.OPEN) s.ws.send(JSON.stringify(frame));
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
    const [path = '', query = ''] = (req.url ?? '').split('?');
    this.requests.push({ method: req.method ?? '', path, query, authorization: req.headers.authorization, body });
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
      if (missing.length)
        return this.error(res, 400, 'bad_request', 'Invalid request parameters', Object.fromEntries(missing.map((k) => [k, [`Missing field: ${k}`]])));
      if (ports.some((p) => !Number.isInteger(b[p]) || (b[p] as number) < 1 || (b[p] as number) > 65535))
        return this.error(res, 400, 'bad_request', 'Invalid request parameters');
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
      return this.ok(res, 201, {
        node_id: nodeId,
        api_token: token,
        proxy_password: randomBytes(32).toString('base64').replace(/=+$/, ''),
        admin_urls: [this.url],
        derp_map_url: null,
      });
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
    if (route === 'GET /api/v1/agents/command_executions') return this.listExecutions(res, nodeId, new URLSearchParams(query));
    const executionRoute = /^PATCH \/api\/v1\/agents\/command_executions\/([^/]+)\/(acknowledge|result)$/.exec(route);
    if (executionRoute) return this.updateExecution(res, nodeId, decodeURIComponent(executionRoute[1]!), executionRoute[2] as 'acknowledge' | 'result', b);
    if (route === 'GET /api/v1/agents/self_updates/check') return this.ok(res, 200, this.selfUpdateCheck);
    return this.error(res, 404, 'not_found', 'Resource not found');
  }

  /** Spec §6.5: `status` required, caller's node only, oldest first, page_size 100 (max 100). */
  private listExecutions(res: ServerResponse, nodeId: string, query: URLSearchParams): void {
    const unknown = [...query.keys()].find((k) => !['status', 'page', 'page_size'].includes(k));
    if (unknown) return this.error(res, 400, 'bad_request', 'Invalid request parameters', { [unknown]: ['Unexpected field: ' + unknown] });
    const status = query.get('status');
    if (!status || !EXECUTION_STATUSES.includes(status))
      return this.error(res, 400, 'bad_request', 'Invalid request parameters', { status: ['Invalid value for enum'] });
    const page = Number(query.get('page') ?? 1);
    const pageSize = Number(query.get('page_size') ?? 100);
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) {
      return this.error(res, 400, 'bad_request', 'Invalid request parameters');
    }
    const all = [...this.executions.values()]
      .filter((e) => e.node_id === nodeId && e.status === status)
      .sort((a, b) => a.inserted_at.localeCompare(b.inserted_at));
    const totalPages = Math.ceil(all.length / pageSize);
    const items = all.slice((page - 1) * pageSize, page * pageSize).map(agentItem);
    const pagination = {
      page,
      page_size: pageSize,
      total_count: all.length,
      total_pages: totalPages,
      has_next: page < totalPages,
      has_prev: page > 1,
      next_page: page < totalPages ? page + 1 : null,
      prev_page: page > 1 ? page - 1 : null,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: items, meta: { ...this.meta(), pagination } }));
  }

  /** Spec §6.5 / §8.3: acknowledge (pending → sent) and result. */
  private updateExecution(res: ServerResponse, nodeId: string, id: string, action: 'acknowledge' | 'result', b: Record<string, unknown>): void {
    const e = this.executions.get(id);
    if (!e) return this.error(res, 404, 'not_found', 'Resource not found');
    if (e.node_id !== nodeId) return this.error(res, 403, 'forbidden', 'Forbidden');
    if (action === 'acknowledge') {
      const forced = this.ackFailures.shift();
      if (forced) return this.error(res, forced, `http_${forced}`, 'forced by the test');
      if (e.status !== 'pending') {
        return this.error(res, 409, 'conflict', `execution is in '${e.status}' status and cannot be acknowledged (must be 'pending')`);
      }
      e.status = 'sent';
      e.sent_at = new Date().toISOString();
      if (this.ackAnswersLost > 0) {
        this.ackAnswersLost--;
        return this.error(res, 503, 'service_unavailable', 'Service Unavailable');
      }
      return this.ok(res, 200, agentItem(e));
    }
    if (b.status !== 'completed' && b.status !== 'expired') {
      this.resultCalls.push({ id, body: b, answer: 400 });
      return this.error(res, 400, 'bad_request', 'Invalid request parameters', { status: ['Invalid value for enum'] });
    }
    const forced = this.resultFailures.shift();
    if (forced) {
      this.resultCalls.push({ id, body: b, answer: forced });
      return this.error(res, forced, forced === 409 ? 'conflict' : `http_${forced}`, 'forced by the test');
    }
    const open = e.status === 'sent' || ((e.status === 'cancelled' || e.status === 'expired') && e.exit_code === null);
    if (!open) {
      this.resultCalls.push({ id, body: b, answer: 409 });
      return this.error(res, 409, 'conflict', `execution is in '${e.status}' status (exit_code: ${e.exit_code}) and cannot be updated`);
    }
    this.resultCalls.push({ id, body: b, answer: 200 });
    const exitCode = typeof b.exit_code === 'number' ? b.exit_code : null;
    const now = new Date().toISOString();
    if (exitCode === 143) {
      e.status = 'cancelled';
      e.cancelled_at = now;
    } else {
      e.status = b.status === 'expired' ? 'expired' : 'completed';
    }
    e.output = typeof b.output === 'string' ? b.output : null;
    e.exit_code = exitCode;
    e.completed_at = typeof b.completed_at === 'string' ? b.completed_at : now;
    return this.ok(res, 200, agentItem(e));
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

/** The agent-facing item shape of spec §6.5. */
function agentItem(e: FakeExecution) {
  return {
    id: e.id,
    command_id: e.command_id,
    command_text: e.command_text,
    timeout: e.timeout,
    expired_at: e.expired_at,
    status: e.status,
    inserted_at: e.inserted_at,
  };
}
