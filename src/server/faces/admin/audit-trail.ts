/**
 * The audit trail of the Admin API and the manager face: every state-changing call (POST/PUT/PATCH/DELETE) and every login
 * is recorded with its caller, action, target and answer, refused calls included, so an
 * attacker's attempts show up (refusals nobody can be named for are bounded per client address
 * by the audit service, the rest aggregated). The agents face (`/api/v1/agents/*`) is a sibling
 * scope and is not recorded: nodes reporting in are telemetry, and what changes through it is
 * already an event.
 *
 * Recorded in `onSend`, before the answer leaves: a client that saw its answer can read its row,
 * and a crash between the change and the record cannot lose the record. A failed write is logged,
 * never answered: the audit never fails a request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEntry, AuditService } from '../../modules/audit/audit.service.ts';
import type { Principal } from '../../principal.ts';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PREFIX = '/api/v1/';

/** How one route is recorded. */
export interface RouteAudit {
  action: string;
  /** The noun the target id names; null = no target. */
  targetType: string | null;
  /** Route param holding the target id; null = none (or the created resource's id, see `creates`). */
  targetParam: string | null;
  /** A create: the target is the `data.id` of a successful answer. */
  creates: boolean;
  /** A login: a refusal is recorded as `auth.login_failed`, with the attempted username. */
  login?: boolean;
  details?: (request: FastifyRequest) => Record<string, unknown> | null;
}

const LOGIN: RouteAudit = { action: 'auth.login', targetType: null, targetParam: null, creates: false, login: true };

/** Routes whose derived name would be wrong, or that the manager spec names. */
/** Reads worth a record: a plain export hands out the whole plane's inventory. */
const AUDITED_READS = new Set(['GET /api/v1/export']);

const OVERRIDES: Record<string, RouteAudit> = {
  'GET /api/v1/export': { action: 'export.plain', targetType: null, targetParam: null, creates: false },
  'POST /api/v1/export': { action: 'export.encrypted', targetType: null, targetParam: null, creates: false },
  'POST /api/v1/import': { action: 'import.run', targetType: null, targetParam: null, creates: false },
  'POST /api/v1/auth/login': LOGIN,
  'POST /api/v1/auth/login-form': LOGIN,
  'POST /api/v1/auth/logout': { action: 'auth.logout', targetType: null, targetParam: null, creates: false },
  'PUT /api/v1/settings': {
    action: 'settings.update',
    targetType: null,
    targetParam: null,
    creates: false,
    details: (request) => ({ settings: (request.body as { settings?: unknown } | undefined)?.settings ?? null }),
  },
  'POST /api/v1/clusters/default/enrollment_keys': { action: 'enrollment_key.create', targetType: 'enrollment_key', targetParam: null, creates: true },
  'POST /api/v1/clusters/default/enrollment_keys/public': {
    action: 'enrollment_key.create_public',
    targetType: 'enrollment_key',
    targetParam: null,
    creates: true,
  },
  // A subscription's protocol set changes the subscription.
  'PUT /api/v1/vpn/subscriptions/:id/protocols': {
    action: 'vpn.subscription.protocols.update',
    targetType: 'vpn.subscription',
    targetParam: 'id',
    creates: false,
  },
  'POST /api/v1/vpn/subscriptions/:id/protocols': {
    action: 'vpn.subscription.protocols.add',
    targetType: 'vpn.subscription',
    targetParam: 'id',
    creates: false,
  },
  'DELETE /api/v1/vpn/subscriptions/:id/protocols/:node_protocol_id': {
    action: 'vpn.subscription.protocols.remove',
    targetType: 'vpn.subscription',
    targetParam: 'id',
    creates: false,
  },
  // The manager face's names (manager spec §6).
  'PUT /api/v1/nodes/:id/config': { action: 'node.config.update', targetType: 'node', targetParam: 'id', creates: false },
  'POST /api/v1/settings/tls/upload': { action: 'settings.tls_upload', targetType: null, targetParam: null, creates: false },
  // The fleet view edits and deletes nodes of every kind.
  'PATCH /api/v1/fleet/:id': { action: 'node.update', targetType: 'node', targetParam: 'id', creates: false },
  'DELETE /api/v1/fleet/:id': { action: 'node.delete', targetType: 'node', targetParam: 'id', creates: false },
};

const isParam = (segment: string) => segment.startsWith(':');

/** `aliases` → `alias`, `keys` → `key`, `entries` → `entry`. */
function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('ses')) return word.slice(0, -2);
  if (word.endsWith('s')) return word.slice(0, -1);
  return word;
}

/**
 * The noun of a path: its last static segment, singular, behind the namespaces that lead the path
 * (`vpn/nodes/:id` → `vpn.node`; `nodes/:node_id/aliases` → `alias`).
 */
function nounOf(segments: string[]): string {
  const firstParam = segments.findIndex(isParam);
  const leading = firstParam === -1 ? segments : segments.slice(0, firstParam);
  const resource = segments.filter((segment) => !isParam(segment)).at(-1)!;
  return [...leading.slice(0, -1), singular(resource)].join('.');
}

/**
 * A stable action name for a route: `<noun>.create|update|delete` by method, or `<noun>.<verb>`
 * for a verb after an id (`/command_executions/:id/cancel` → `command_execution.cancel`).
 */
export function routeAudit(method: string, url: string): RouteAudit {
  const override = OVERRIDES[`${method} ${url}`];
  if (override) return override;
  const segments = url.slice(url.startsWith(PREFIX) ? PREFIX.length : 1).split('/');
  const last = segments.at(-1)!;
  const beforeLast = segments.at(-2);
  if (!isParam(last) && beforeLast !== undefined && isParam(beforeLast) && !last.endsWith('s')) {
    const noun = nounOf(segments.slice(0, -1));
    return { action: `${noun}.${last}`, targetType: noun, targetParam: beforeLast.slice(1), creates: false };
  }
  const noun = nounOf(segments);
  const creates = method === 'POST' && !isParam(last);
  const verb = method === 'DELETE' ? 'delete' : creates ? 'create' : 'update';
  return { action: `${noun}.${verb}`, targetType: noun, targetParam: isParam(last) ? last.slice(1) : null, creates };
}

function actorOf(principal: Principal): Pick<AuditEntry, 'actorType' | 'actorId' | 'actorName'> & { details: Record<string, unknown> | null } {
  switch (principal.type) {
    case 'operator': {
      const { credential } = principal;
      return credential.kind === 'token'
        ? { actorType: 'token', actorId: principal.id, actorName: principal.username, details: { token_id: credential.tokenId } }
        : { actorType: 'operator', actorId: principal.id, actorName: principal.username, details: { session_id: credential.sessionId } };
    }
    case 'api-key':
      return { actorType: 'api-key', actorId: principal.key, actorName: principal.key, details: null };
    case 'node':
      return { actorType: 'node', actorId: principal.id, actorName: principal.kind, details: null };
    case 'public':
      return { actorType: 'public', actorId: null, actorName: null, details: null };
  }
}

/** The id of a created resource in an answer's `{data: {id}}`, or a bare `{id}` (the manager face's). */
function createdId(payload: unknown): string | null {
  if (typeof payload !== 'string') return null;
  try {
    const body = JSON.parse(payload) as { id?: unknown; data?: { id?: unknown } } | null;
    const id = body?.data?.id ?? body?.id;
    return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
  } catch {
    return null;
  }
}

/**
 * Login routes are public, so their caller is an operator only once the route signed one in. A
 * refused form login is a redirect too, and a successful one may redirect to the login page.
 */
const loginRefused = (request: FastifyRequest) => request.principal.type !== 'operator';

function targetIdOf(request: FastifyRequest, reply: FastifyReply, payload: unknown, route: RouteAudit): string | null {
  if (route.creates) return reply.statusCode < 400 ? createdId(payload) : null;
  if (!route.targetParam) return null;
  const value = (request.params as Record<string, unknown> | undefined)?.[route.targetParam];
  return typeof value === 'string' && value !== '' ? value : null;
}

function entryOf(request: FastifyRequest, reply: FastifyReply, payload: unknown, route: RouteAudit): AuditEntry {
  const base = { method: request.method, path: request.url.split('?', 1)[0]!, status: reply.statusCode, ip: request.ip ?? null };
  const none = { targetType: null, targetId: null };
  if (route.login) {
    // Only ever the username: the password is never read here.
    const attempted = (request.body as { username?: unknown } | undefined)?.username;
    const username = typeof attempted === 'string' ? attempted.slice(0, 256) : null;
    if (loginRefused(request))
      return { ...base, ...none, action: 'auth.login_failed', actorType: 'public', actorId: null, actorName: null, details: { username } };
  }
  const { details, ...actor } = actorOf(request.principal);
  const extra = route.details && reply.statusCode < 400 ? route.details(request) : null;
  return {
    ...base,
    ...actor,
    action: route.action,
    targetType: route.targetType,
    targetId: targetIdOf(request, reply, payload, route),
    details: details || extra ? { ...details, ...extra } : null,
  };
}

/** Records every state-changing call of the scope. */
export function installAuditTrail(scope: FastifyInstance, audit: AuditService): void {
  const routes = new Map<string, RouteAudit>();
  scope.addHook('onSend', async (request, reply, payload) => {
    const key = `${request.method} ${request.routeOptions.url}`;
    if (!WRITES.has(request.method) && !AUDITED_READS.has(key)) return payload;
    let route = routes.get(key);
    if (!route) routes.set(key, (route = routeAudit(request.method, request.routeOptions.url ?? request.url)));
    try {
      await audit.record(entryOf(request, reply, payload, route));
    } catch (error) {
      request.log.error({ err: error }, 'recording the audit log failed');
    }
    return payload;
  });
}
