/**
 * HTTP client for the agent-facing routes (edge-admin spec §6.4–6.5). Unwraps `{data, meta}`; every
 * failure becomes an ApiError carrying the HTTP status (0 = no answer: refused, reset, timed out).
 */
import type { AgentExecution } from '../../contract/agent-stream.ts';
import type { VerifyEnrollmentKeyResponse } from '../../contract/admin/enrollment-keys.ts';
import type { ExecutionResultRequest } from '../../contract/agents/executions.ts';
import type { MetricsType } from '../../contract/agents/metrics.ts';
import type { HealthCheckRequest, Registration, RegistrationRequest } from '../../contract/agents/nodes.ts';
import type { SelfUpdateCheck } from '../../contract/agents/self-updates.ts';
import { parseServerFrame } from './stream.ts';
import { type JsonResponse, requestJson, UnreachableError } from '../shared/http.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Worth retrying later: the server did not answer, is overloaded, degraded or failing. */
  get transient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }

  /** "422 validation_failed: node_id: node not found in Netmaker network" */
  describe(): string {
    const head = this.status === 0 ? this.message : `${this.status} ${this.code}: ${this.message}`;
    const details = flattenDetails(this.details);
    return details.length ? `${head} (${details.join('; ')})` : head;
  }
}

function flattenDetails(details: unknown, prefix = ''): string[] {
  if (details === null || details === undefined) return [];
  if (Array.isArray(details)) return [`${prefix ? `${prefix}: ` : ''}${details.map(String).join(', ')}`];
  if (typeof details === 'object') {
    return Object.entries(details as Record<string, unknown>).flatMap(([k, v]) => flattenDetails(v, prefix ? `${prefix}.${k}` : k));
  }
  return [`${prefix ? `${prefix}: ` : ''}${String(details)}`];
}

/**
 * Verify's `data`; `cluster_name` is a Nodeplane addition the agent needs for `network_name`. Any
 * `error` string is kept: other servers may have reasons ours does not.
 */
export type VerifyResult = Omit<VerifyEnrollmentKeyResponse['data'], 'error'> & { error: string };
export type HealthStatus = HealthCheckRequest['status'];

/** One SSH login to check (edge-admin spec §9.2): a password or an OpenSSH public key line. */
export type SshCredentials = { username: string; password: string } | { username: string; public_key: string };

/**
 * Body of `PATCH /api/v1/agents/command_executions/{id}/result` (spec §6.5, §8.3). The contract
 * lets other agents send nulls; this agent always has a value when it sends a field.
 */
export type ExecutionResultBody = { [K in keyof ExecutionResultRequest]: Exclude<ExecutionResultRequest[K], null> };

export interface ExecutionPage {
  items: AgentExecution[];
  /** From `meta.pagination.has_next`; a server without pagination meta counts as one page. */
  hasNext: boolean;
}

export interface ApiClientOptions {
  baseUrl: string;
  token?: string | null;
  fetch?: typeof fetch;
  timeoutMs?: number;
  userAgent?: string;
  /** Aborts every in-flight request (agent shutdown). */
  signal?: AbortSignal;
}

export class ApiClient {
  private token: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ApiClientOptions) {
    this.token = options.token ?? null;
    this.fetchImpl = options.fetch ?? fetch;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  setToken(token: string | null): void {
    this.token = token;
  }

  async verifyEnrollmentKey(key: string): Promise<VerifyResult> {
    const data = await this.request('POST', '/api/v1/agents/enrollment_keys/verify', { key }, false);
    const d = asObject(data, 'verify');
    if (typeof d.verified !== 'boolean') throw badResponse('verify: "verified" is not a boolean');
    return {
      verified: d.verified,
      error: typeof d.error === 'string' ? d.error : '',
      netmaker_key: typeof d.netmaker_key === 'string' ? d.netmaker_key : '',
      cluster_name: typeof d.cluster_name === 'string' && d.cluster_name !== '' ? d.cluster_name : null,
    };
  }

  /**
   * Registration is public in the upstream spec; Nodeplane's server also wants proof: the join ticket
   * (verify's `netmaker_key`) the first time, the current api_token afterwards. Sending it is harmless
   * to a server that does not look.
   */
  async register(body: RegistrationRequest, credential: string | null): Promise<Registration> {
    const data = await this.request('POST', '/api/v1/agents/nodes', body, credential ? { bearer: credential } : false);
    const d = asObject(data, 'registration');
    if (typeof d.api_token !== 'string' || d.api_token === '') throw badResponse('registration: no api_token');
    return {
      node_id: typeof d.node_id === 'string' ? d.node_id : body.node_id,
      api_token: d.api_token,
      proxy_password: typeof d.proxy_password === 'string' ? d.proxy_password : '',
      admin_urls: Array.isArray(d.admin_urls) ? d.admin_urls.filter((u): u is string => typeof u === 'string') : [],
      derp_map_url: typeof d.derp_map_url === 'string' ? d.derp_map_url : null,
    };
  }

  async reportHealth(status: HealthStatus): Promise<void> {
    await this.request('PATCH', '/api/v1/agents/nodes/me/health_check', { status }, true);
  }

  async pushMetrics(metricsType: MetricsType, metricsText: string): Promise<void> {
    await this.request('POST', '/api/v1/agents/metrics/push', { metrics_type: metricsType, metrics_text: metricsText }, true);
  }

  /**
   * This node's executions in one status, oldest first (the server's default order and page size
   * of 100). `page` is sent only past the first, so a server that pages differently still answers.
   */
  async listExecutions(status: 'pending' | 'sent', page = 1): Promise<ExecutionPage> {
    const query = `status=${status}${page > 1 ? `&page=${page}` : ''}`;
    const { data, meta } = await this.requestEnvelope('GET', `/api/v1/agents/command_executions?${query}`, undefined, true);
    if (!Array.isArray(data)) throw badResponse('command_executions: data is not a list');
    const items: AgentExecution[] = [];
    for (const item of data) {
      // One validator for pushed and polled items; a malformed item is skipped, not fatal.
      const frame = parseServerFrame({ type: 'execution', execution: item });
      if (frame?.type === 'execution') items.push(frame.execution);
    }
    const pagination = (meta as { pagination?: { has_next?: unknown } } | undefined)?.pagination;
    return { items, hasNext: pagination?.has_next === true };
  }

  /** pending → sent. 409 = not pending any more (someone claimed, cancelled or expired it). */
  async acknowledgeExecution(id: string): Promise<void> {
    await this.request('PATCH', `/api/v1/agents/command_executions/${encodeURIComponent(id)}/acknowledge`, undefined, true);
  }

  async reportExecutionResult(id: string, body: ExecutionResultBody): Promise<void> {
    await this.request('PATCH', `/api/v1/agents/command_executions/${encodeURIComponent(id)}/result`, body, true);
  }

  async checkSelfUpdate(): Promise<SelfUpdateCheck> {
    const d = asObject(await this.request('GET', '/api/v1/agents/self_updates/check', undefined, true), 'self_updates/check');
    if (typeof d.including_me !== 'boolean') throw badResponse('self_updates/check: "including_me" is not a boolean');
    return {
      including_me: d.including_me,
      inserted_at: typeof d.inserted_at === 'string' && d.inserted_at !== '' ? d.inserted_at : null,
    };
  }

  /** Whether the control plane accepts this login on this node; it never says which part failed. */
  async verifySshCredentials(credentials: SshCredentials): Promise<boolean> {
    const data = asObject(await this.request('POST', '/api/v1/agents/ssh_usernames/verify_credentials', credentials, true), 'verify_credentials');
    if (typeof data.verified !== 'boolean') throw badResponse('verify_credentials: "verified" is not a boolean');
    return data.verified;
  }

  /** Returns the envelope's `data` (undefined for 204). `auth: true` = the api_token. */
  async request(method: string, path: string, body: unknown, auth: boolean | { bearer: string }): Promise<unknown> {
    return (await this.requestEnvelope(method, path, body, auth)).data;
  }

  /** Like request(), keeping `meta` (pagination) too. */
  async requestEnvelope(method: string, path: string, body: unknown, auth: boolean | { bearer: string }): Promise<{ data: unknown; meta: unknown }> {
    const headers: Record<string, string> = {};
    if (typeof auth === 'object') {
      headers.authorization = `Bearer ${auth.bearer}`;
    } else if (auth) {
      if (!this.token) throw new ApiError(401, 'unauthorized', 'no api_token yet (not registered)');
      headers.authorization = `Bearer ${this.token}`;
    }
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
        timeoutMs: this.options.timeoutMs ?? 10_000,
        signal: this.options.signal,
      });
    } catch (error) {
      if (error instanceof UnreachableError) throw new ApiError(0, 'unreachable', error.message);
      throw error;
    }
    const { response, text, json } = result;
    if (!response.ok) {
      const error = (json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
      throw new ApiError(
        response.status,
        typeof error?.code === 'string' ? error.code : `http_${response.status}`,
        typeof error?.message === 'string' ? error.message : response.statusText || `HTTP ${response.status}`,
        error?.details,
      );
    }
    if (response.status === 204 || text === '') return { data: undefined, meta: undefined };
    if (typeof json !== 'object' || json === null || !('data' in json)) {
      throw new ApiError(response.status, 'bad_response', `${method} ${path}: response is not a {data, meta} envelope`);
    }
    return { data: (json as { data: unknown }).data, meta: (json as { meta?: unknown }).meta };
  }
}

function asObject(data: unknown, what: string): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw badResponse(`${what}: data is not an object`);
  return data as Record<string, unknown>;
}

const badResponse = (message: string) => new ApiError(200, 'bad_response', message);
