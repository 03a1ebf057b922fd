/**
 * HTTP client for the Core node API (seed "Core Private Node Routes", specs/core-node.md §4):
 * `x-node-auth-key` on every route but register, plain JSON answers, NestJS-style errors
 * `{statusCode, message, error}` (message may be a list). Every failure is a NodeApiError with
 * the status (0 = no answer).
 */
import type { RegisterNodeDto } from '../../contract/core-node/node.ts';
import type { XrayConfig } from '../proxy-core/xray-config.ts';
import type { ClientMap } from './accountant.ts';
import { type JsonResponse, requestJson, UnreachableError } from '../shared/http.ts';

export class NodeApiError extends Error {
  override name = 'NodeApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }

  /** Worth retrying: no answer, timeout, conflict with an in-flight twin, rate limit, server trouble. */
  get transient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

/**
 * The agent's reading of `config/latest`, looser than the contract's `NodeConfig` on purpose: any
 * Core server's Xray config goes to the proxy core as it is, and telemt settings are checked where
 * they are used.
 */
export interface NodeConfig {
  revision: number;
  clientMap: ClientMap;
  services: { xray?: XrayConfig; mtproto?: Record<string, unknown> };
}

export interface NodeClientOptions {
  baseUrl: string;
  authKey?: string | null;
  fetch?: typeof fetch;
  timeoutMs?: number;
  userAgent?: string;
  signal?: AbortSignal;
}

export class NodeClient {
  authKey: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: NodeClientOptions) {
    this.authKey = options.authKey ?? null;
    this.fetchImpl = options.fetch ?? fetch;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  async register(dto: RegisterNodeDto): Promise<{ authKey: string; nodeId: number | string }> {
    const { json } = await this.request('POST', '/node/register', dto, { auth: false });
    const body = json as { authKey?: unknown; nodeId?: unknown } | undefined;
    if (typeof body?.authKey !== 'string' || body.authKey === '') throw new NodeApiError(200, 'register: the answer has no authKey');
    const nodeId = typeof body.nodeId === 'number' || typeof body.nodeId === 'string' ? body.nodeId : 0;
    return { authKey: body.authKey, nodeId };
  }

  async heartbeat(body: { ip?: string; revision?: number }): Promise<{ needSync: boolean }> {
    const { json } = await this.request('POST', '/node/heartbeat', body);
    return { needSync: (json as { needSync?: unknown } | undefined)?.needSync === true };
  }

  /**
   * `null` = 304 (the config with `etag` is still current). `waitSeconds` asks Nodeplane to hold that
   * 304 until the config changes (a long-poll); a server that ignores it answers at once.
   */
  async latestConfig(etag: string | null, waitSeconds = 0): Promise<{ config: NodeConfig; etag: string | null } | null> {
    const route = waitSeconds > 0 && etag ? `/node/config/latest?wait=${waitSeconds}` : '/node/config/latest';
    const { status, json, headers } = await this.request('GET', route, undefined, { etag, timeoutMs: waitSeconds * 1000 + 15_000 });
    if (status === 304) return null;
    return { config: parseNodeConfig(json), etag: headers.get('etag') };
  }

  async configApplied(revision: number): Promise<void> {
    await this.request('POST', '/node/config/applied', { revision });
  }

  async reportError(body: { message: string; code?: string; details?: Record<string, unknown> }): Promise<void> {
    await this.request('POST', '/node/error', body);
  }

  /** One journal item; the key makes a retried push count once. */
  async push(route: string, body: unknown, idempotencyKey: string): Promise<void> {
    await this.request('POST', route, body, { idempotencyKey });
  }

  async request(
    method: string,
    path: string,
    body: unknown,
    options: { auth?: boolean; etag?: string | null; idempotencyKey?: string; timeoutMs?: number } = {},
  ): Promise<{ status: number; json: unknown; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (options.auth !== false) {
      if (!this.authKey) throw new NodeApiError(401, 'no auth key yet (not registered)');
      headers['x-node-auth-key'] = this.authKey;
    }
    if (options.etag) headers['if-none-match'] = options.etag;
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    let result: JsonResponse;
    try {
      result = await requestJson({
        fetchImpl: this.fetchImpl,
        baseUrl: this.options.baseUrl,
        method,
        path,
        body,
        headers,
        userAgent: this.options.userAgent,
        timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? 15_000,
        signal: this.options.signal,
      });
    } catch (error) {
      if (error instanceof UnreachableError) throw new NodeApiError(0, error.message);
      throw error;
    }
    const { response, json } = result;
    if (response.status === 304) return { status: 304, json: undefined, headers: response.headers };
    if (!response.ok) {
      const error = json as { message?: unknown; error?: unknown } | undefined;
      const message = Array.isArray(error?.message) ? error.message.join('; ') : typeof error?.message === 'string' ? error.message : response.statusText;
      throw new NodeApiError(response.status, `${method} ${path}: ${response.status} ${message || `HTTP ${response.status}`}`);
    }
    return { status: response.status, json, headers: response.headers };
  }
}

/** Checks the parts the agent relies on; the inside of `services.xray` is the core's to judge. */
function parseNodeConfig(json: unknown): NodeConfig {
  const c = json as Partial<NodeConfig> | undefined;
  if (typeof c !== 'object' || c === null) throw new NodeApiError(200, 'config/latest: the answer is not an object');
  if (!Number.isInteger(c.revision)) throw new NodeApiError(200, 'config/latest: revision is not an integer');
  if (typeof c.clientMap !== 'object' || c.clientMap === null || Array.isArray(c.clientMap)) {
    throw new NodeApiError(200, 'config/latest: clientMap is not an object');
  }
  const services = c.services ?? {};
  if (typeof services !== 'object' || services === null) throw new NodeApiError(200, 'config/latest: services is not an object');
  if (services.xray !== undefined && services.xray !== null && (typeof services.xray !== 'object' || Array.isArray(services.xray))) {
    throw new NodeApiError(200, 'config/latest: services.xray is not an object');
  }
  return { revision: c.revision!, clientMap: c.clientMap, services: { xray: services.xray ?? undefined, mtproto: services.mtproto ?? undefined } };
}
