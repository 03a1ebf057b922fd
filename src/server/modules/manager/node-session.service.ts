/**
 * What happens on a manager node's live session (manager spec §1.2–1.8), independent of the socket:
 * the auth frame (registration token → node id + fresh secret; id + secret → session), connect and
 * disconnect (status, the manager's own `connection`/`compatibility` events, outbox events), and the
 * node's reports: `health` durably, `stats` in memory (latest per node) with last_seen_at coalesced,
 * `event` frames into `manager_events` with the manager's ingest rules.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { NewManagerEvent } from '../../db/tables/manager.ts';
import type { ManagerNodeEventData } from '../../events/catalog.ts';
import type { Emit, Outbox } from '../../events/outbox.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { constantTimeEqual, type SecretBox, tokenHash } from '../../lib/secrets.ts';
import { nowIso } from '../../lib/time.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { LastSeenBuffer } from '../nodes/last-seen.buffer.ts';
import { AuthLockout } from './auth-lockout.ts';
import { DEVICE_DRIVERS, driverOf } from './devices.ts';
import { type ManagerNodeRecord, managerRepo } from './manager.repo.ts';

export type AuthOutcome =
  | { kind: 'registered'; nodeId: string; nodeSecret: string; protocolVersion: number | null }
  | { kind: 'authenticated'; nodeId: string; protocolVersion: number | null }
  | { kind: 'refused'; reason: AuthFailure; message: string };

/** Why a node's auth frame was refused: a stable label for metrics (the message is the manager's). */
export type AuthFailure = 'missing_credentials' | 'locked_out' | 'unknown_node' | 'invalid_secret' | 'invalid_token' | 'expired';

export interface LatestStats {
  payload: Record<string, unknown>;
  at: string;
}

/** A node with a session on this instance, as the dashboard shows it (manager spec §4). */
export interface LiveNode {
  nodeId: string;
  name: string;
  deviceType: string;
  protocolVersion: number | null;
  connectedAt: number;
  health: Record<string, unknown> | null;
  softwareVersion: string | null;
}

export interface NodeSessionDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  /** This instance: recorded as the holder of the sessions it accepts. */
  instanceId: string;
  onError: (error: unknown) => void;
  /** How often the latest `stats` of each streaming node is sampled to the database. */
  statsSampleMs: number;
}

const SEVERITIES = new Set(['info', 'warning', 'critical']);
/** Stats arrive every second; last_seen_at is written at most this often per node (batched). */
const LAST_SEEN_FLUSH_MS = 5_000;
const MAX_CATEGORY = 256;
const MAX_MESSAGE = 10_000;
const MAX_VERSION = 128;

/** Postgres refuses NUL in text; a node's strings are stored without them. */
const text = (value: unknown, max: number): string | null => (typeof value === 'string' ? value.replace(/\u0000/g, '').slice(0, max) : null);

const int32 = (value: unknown): number | null => (Number.isInteger(value) && Math.abs(value as number) <= 2 ** 31 - 1 ? (value as number) : null);

export class NodeSessionService {
  private readonly lockout = new AuthLockout();
  private readonly latest = new Map<string, LatestStats>();
  private readonly live = new Map<string, LiveNode>();
  /** Bumped on every change the dashboard shows, so its tick knows whether to send. */
  private revision = 0;
  private readonly lastSeen: LastSeenBuffer;
  /** Nodes whose `stats` moved since the last sample (the same coalescing as last_seen_at). */
  private readonly statsSample: LastSeenBuffer;

  constructor(private readonly deps: NodeSessionDeps) {
    this.lastSeen = new LastSeenBuffer((seen) => inventoryRepo.touchMany(deps.db, seen), LAST_SEEN_FLUSH_MS, deps.onError);
    this.statsSample = new LastSeenBuffer((moved) => this.saveStats(moved), deps.statsSampleMs, deps.onError);
  }

  /** The node's auth frame payload → the manager's reply. Credentials win over a token (§1.2). */
  async authenticate(payload: unknown): Promise<AuthOutcome> {
    const p = payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {};
    const protocolVersion = int32(p.protocol_version);
    if (p.node_id !== undefined && p.node_id !== null) return this.withSecret(p.node_id, p.node_secret, protocolVersion);
    if (typeof p.registration_token === 'string' && p.registration_token !== '') return this.register(p.registration_token, protocolVersion);
    return refused('missing_credentials', 'Missing node_id in auth payload');
  }

  private async withSecret(rawId: unknown, secret: unknown, protocolVersion: number | null): Promise<AuthOutcome> {
    if (typeof secret !== 'string' || secret === '') return refused('missing_credentials', 'Missing node_secret in auth payload');
    const nodeId = typeof rawId === 'string' ? rawId.slice(0, 64).toLowerCase() : '';
    if (this.lockout.isLocked(nodeId)) return refused('locked_out', 'Too many failed authentication attempts, try again later');
    const node = UUID_PATTERN.test(nodeId) ? await managerRepo.find(this.deps.db, nodeId) : undefined;
    if (!node) return this.failed(nodeId, 'unknown_node', 'Node not registered');
    if (expired(node)) return refused('expired', 'Node has expired');
    let stored: string | null = null;
    try {
      stored = node.node_secret_enc === null ? null : this.deps.secrets.open(node.node_secret_enc);
    } catch (error) {
      this.deps.onError(error);
    }
    if (stored === null || !constantTimeEqual(secret, stored)) return this.failed(nodeId, 'invalid_secret', 'Invalid node secret');
    this.lockout.clear(nodeId);
    return { kind: 'authenticated', nodeId, protocolVersion };
  }

  private async register(token: string, protocolVersion: number | null): Promise<AuthOutcome> {
    const id = `token:${token.slice(0, 8)}`;
    if (this.lockout.isLocked(id)) return refused('locked_out', 'Too many failed authentication attempts, try again later');
    const nodeSecret = randomUUID();
    const outcome = await this.deps.outbox.run(async (trx, emit): Promise<AuthOutcome> => {
      const node = await managerRepo.findByTokenHash(trx, tokenHash(token));
      if (!node || node.status !== 'pending') return refused('invalid_token', 'Invalid registration token');
      if (expired(node)) return refused('expired', 'Node has expired');
      await managerRepo.update(trx, node.node_id, { registration_token_hash: null, node_secret_enc: this.deps.secrets.seal(nodeSecret) });
      emit('manager.node.registered', eventData(node, {}));
      return { kind: 'registered', nodeId: node.node_id, nodeSecret, protocolVersion };
    });
    if (outcome.kind === 'refused' && outcome.reason === 'invalid_token') this.lockout.fail(id);
    else if (outcome.kind !== 'refused') this.lockout.clear(id);
    return outcome;
  }

  private failed(id: string, reason: AuthFailure, message: string): AuthOutcome {
    this.lockout.fail(id);
    return refused(reason, message);
  }

  /** The session is live here: online, held by this instance, with its connection events. */
  async connected(nodeId: string, protocolVersion: number | null): Promise<void> {
    await this.deps.outbox.run(async (trx, emit) => {
      const node = await managerRepo.find(trx, nodeId);
      if (!node) return;
      const now = nowIso();
      await inventoryRepo.update(trx, nodeId, { status: 'online', last_seen_at: now, updated_at: now });
      await managerRepo.update(trx, nodeId, { held_by: this.deps.instanceId, protocol_version: protocolVersion });
      const events: NewManagerEvent[] = [managerEvent(nodeId, 'info', 'connection', 'Node connected to manager', now)];
      const expected = driverOf(node.device_type)?.protocolVersion ?? DEVICE_DRIVERS.edge.protocolVersion;
      if (protocolVersion !== expected) {
        events.push(
          managerEvent(
            nodeId,
            'warning',
            'compatibility',
            `Node speaks protocol version ${protocolVersion ?? 'unknown'}, this manager expects ${expected}`,
            now,
            {
              node_protocol_version: protocolVersion,
              manager_protocol_version: expected,
            },
          ),
        );
      }
      await managerRepo.insertEvents(trx, events);
      this.live.set(nodeId, {
        nodeId,
        name: node.name,
        deviceType: node.device_type,
        protocolVersion,
        connectedAt: Date.now(),
        health: parseJson(node.last_health),
        softwareVersion: node.software_version,
      });
      this.revision += 1;
      emit('manager.node.connected', eventData(node, { status: 'online', last_seen_at: now, protocol_version: protocolVersion }));
    });
  }

  /** The session here ended without a replacement here: offline, unless it already lives elsewhere. */
  async disconnected(nodeId: string): Promise<void> {
    this.latest.delete(nodeId);
    if (this.live.delete(nodeId)) this.revision += 1;
    await this.deps.outbox.run((trx, emit) => this.markOffline(trx, emit, nodeId, this.deps.instanceId));
  }

  /** Sessions this instance held (before a crash, or while stopping) end: those nodes go offline. */
  async releaseHeld(): Promise<void> {
    for (const nodeId of await managerRepo.heldBy(this.deps.db, this.deps.instanceId)) {
      await this.deps.outbox.run((trx, emit) => this.markOffline(trx, emit, nodeId, this.deps.instanceId));
    }
  }

  /**
   * Nodes left `online` by an instance that died without releasing them (a crash it never restarts
   * from) go offline once silent for `offlineAfterMs`: no hub will ever close their session.
   * Returns how many. A node that reconnected meanwhile has a new holder, and is left alone.
   */
  async sweepOrphaned(offlineAfterMs: number, liveInstanceIds: string[]): Promise<number> {
    await this.lastSeen.flush();
    const cutoff = new Date(Date.now() - offlineAfterMs).toISOString();
    let swept = 0;
    for (const { node_id, held_by } of await managerRepo.orphaned(this.deps.db, cutoff, liveInstanceIds)) {
      if (await this.deps.outbox.run((trx, emit) => this.markOffline(trx, emit, node_id, held_by))) swept += 1;
    }
    return swept;
  }

  /** Releases the node if `holder` still holds it; false when someone else does now. */
  private async markOffline(trx: Transaction<Database>, emit: Emit, nodeId: string, holder: string | null): Promise<boolean> {
    if (!(await managerRepo.release(trx, nodeId, holder))) return false;
    const node = await managerRepo.find(trx, nodeId);
    if (!node) return false;
    const now = nowIso();
    await inventoryRepo.update(trx, nodeId, { status: 'offline', updated_at: now });
    await managerRepo.insertEvents(trx, [managerEvent(nodeId, 'critical', 'connection', 'Node disconnected from manager', now)]);
    emit('manager.node.disconnected', eventData(node, { status: 'offline' }));
    return true;
  }

  /** `health`: stored as the node's last_health; its `version` is the node's software version (§1.4.2). */
  async health(nodeId: string, payload: unknown): Promise<void> {
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return;
    const version = text((payload as Record<string, unknown>).version, MAX_VERSION);
    const now = nowIso();
    const live = this.live.get(nodeId);
    if (live) {
      live.health = payload as Record<string, unknown>;
      if (version !== null) live.softwareVersion = version;
      this.revision += 1;
    }
    await this.deps.db.transaction().execute(async (trx) => {
      await managerRepo.update(trx, nodeId, { last_health: JSON.stringify(payload), ...(version !== null ? { software_version: version } : {}) });
      // A live node reporting is online again if something marked it offline; `pending` (a token
      // re-issued by an operator) stays until the node registers with the new token.
      await inventoryRepo.setStatusIf(trx, nodeId, 'offline', { status: 'online', updated_at: now });
      await inventoryRepo.update(trx, nodeId, { last_seen_at: now, ...(version !== null ? { version } : {}) });
    });
  }

  /** `stats`: the latest per node, in memory; the node counts as seen. */
  stats(nodeId: string, payload: unknown): void {
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return;
    const at = nowIso();
    this.latest.set(nodeId, { payload: payload as Record<string, unknown>, at });
    this.revision += 1;
    this.lastSeen.record(nodeId, at);
    this.statsSample.record(nodeId, at);
  }

  /** A deleted node's session ended: nothing of it is kept. */
  forget(nodeId: string): void {
    this.latest.delete(nodeId);
    if (this.live.delete(nodeId)) this.revision += 1;
    this.lastSeen.forget(nodeId);
    this.statsSample.forget(nodeId);
  }

  /** The latest `stats` of every node with a session on this instance (the dashboard stream reads it). */
  latestStats(): ReadonlyMap<string, LatestStats> {
    return this.latest;
  }

  /** The nodes with a session on this instance, and a counter that moves whenever any of it changes. */
  liveNodes(): { revision: number; nodes: ReadonlyMap<string, LiveNode> } {
    return { revision: this.revision, nodes: this.live };
  }

  /** `event`: stored with the manager's ingest rules (§1.4.3). */
  async event(nodeId: string, payload: unknown): Promise<void> {
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return;
    const p = payload as Record<string, unknown>;
    const severity = typeof p.severity === 'string' && SEVERITIES.has(p.severity) ? p.severity : 'info';
    const row = managerEvent(nodeId, severity, text(p.category, MAX_CATEGORY) || 'unknown', text(p.message, MAX_MESSAGE) ?? '', nowIso(), p.details);
    row.flow_id = text(p.flow_id, MAX_CATEGORY);
    // Into the one event stream too, so webhooks and the broker carry what the nodes report.
    await this.deps.outbox.run(async (trx, emit) => {
      await managerRepo.insertEvents(trx, [row]);
      emit('manager.node.event', {
        node_id: nodeId,
        severity: row.severity,
        category: row.category,
        message: row.message,
        details: parseJson(row.details ?? null),
        flow_id: row.flow_id ?? null,
        created_at: row.created_at,
      });
    });
  }

  /** The latest payload of each node that streamed since the last sample. */
  private async saveStats(moved: Array<[nodeId: string, at: string]>): Promise<void> {
    const samples: Array<[string, string, string]> = [];
    for (const [nodeId] of moved) {
      const latest = this.latest.get(nodeId);
      if (latest) samples.push([nodeId, JSON.stringify(latest.payload), latest.at]);
    }
    await managerRepo.saveStats(this.deps.db, samples);
  }

  start(): void {
    this.lastSeen.start();
    this.statsSample.start();
  }

  async stop(): Promise<void> {
    await this.lastSeen.stop();
    await this.statsSample.stop();
  }
}

function parseJson(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const refused = (reason: AuthFailure, message: string): AuthOutcome => ({ kind: 'refused', reason, message });

const expired = (node: ManagerNodeRecord) => node.expires_at !== null && node.expires_at <= nowIso();

function managerEvent(nodeId: string, severity: string, category: string, message: string, at: string, details?: unknown): NewManagerEvent {
  return {
    node_id: nodeId,
    severity,
    category,
    message,
    details: details === undefined || details === null ? null : JSON.stringify(details),
    flow_id: null,
    created_at: at,
    acknowledged_by: null,
  };
}

function eventData(node: ManagerNodeRecord, change: Partial<ManagerNodeEventData>): ManagerNodeEventData {
  return {
    node_id: node.node_id,
    kind: node.kind,
    name: node.name,
    device_type: node.device_type,
    status: node.status,
    software_version: node.software_version,
    protocol_version: node.protocol_version,
    last_seen_at: node.last_seen_at,
    ...change,
  };
}
