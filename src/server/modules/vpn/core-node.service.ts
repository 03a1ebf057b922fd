/**
 * What Core node agents do (specs/core-node.md §4.3): register with an operator-issued code,
 * heartbeat, fetch their config (ETag / If-None-Match), confirm an apply or report an error. The
 * node is always the one the auth key names; bodies never choose it. Nodes that stop heartbeating
 * are swept to `offline`.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { NodeConfigAppliedDto, NodeErrorDto, NodeHeartbeatDto, RegisterNodeDto } from '../../../contract/core-node/node.ts';
import type { Database } from '../../db/schema.ts';
import type { Emit, Outbox } from '../../events/outbox.ts';
import { AppError, ConflictError, NotFoundError } from '../../errors.ts';
import { constantTimeEqual, type SecretBox, tokenHash } from '../../lib/secrets.ts';
import { nowIso } from '../../lib/time.ts';
import { REGISTRATION_CODE } from './core-node-admin.service.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { type CoreNodeRecord, coreNodeEventData, coreNodeRepo } from './core-node.repo.ts';
import { configSignal } from './config-signal.ts';
import { configEtag, etagMatches, SecretCache, servedConfig } from './node-config.ts';
import { revisionRepo } from './revision.repo.ts';
import type { NodePrincipal } from '../../principal.ts';

export type LatestConfig = { notModified: true; etag: string } | { notModified: false; etag: string; body: string };

/** How often a held long-poll re-reads the revision without a signal (changes made by another instance). */
const LONG_POLL_RECHECK_MS = 5_000;

const invalidCode = () => new AppError('unauthorized', 'Invalid registration code');

export interface CoreNodeDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  config: { coreNodeOfflineAfterMs: number };
}

export class CoreNodeService {
  private readonly closing = new AbortController();
  readonly secretCache: SecretCache;

  constructor(readonly deps: CoreNodeDeps) {
    this.secretCache = new SecretCache(deps.secrets);
  }

  /** The node an x-node-auth-key belongs to, or null. */
  async authenticate(key: string): Promise<NodePrincipal | null> {
    const row = await coreNodeRepo.sessionByKeyHash(this.deps.db, tokenHash(key));
    return row ? { type: 'node', id: row.node_id, kind: 'core' } : null;
  }

  /**
   * Accepts only the code an operator created or reset for the node; anything else is a 401 that
   * changes nothing. Each registration issues a new auth key and retires the previous one. Nothing
   * the rendered config depends on changes here, so no revision is bumped.
   */
  async register(dto: RegisterNodeDto): Promise<{ authKey: string; nodeId: number }> {
    const match = REGISTRATION_CODE.exec(dto.code);
    if (!match) throw invalidCode();
    return this.deps.outbox.run(async (trx, emit) => {
      const found = await coreNodeRepo.findByCode(trx, match[1]!);
      const row = found && (await coreNodeRepo.lock(trx, found.id));
      if (!row || row.registration_secret_hash === null || !constantTimeEqual(tokenHash(dto.code), row.registration_secret_hash)) throw invalidCode();
      const authKey = randomBytes(32).toString('base64url');
      const now = nowIso();
      const status = row.status === 'disabled' ? 'disabled' : 'pending';
      // The operator's name and host win (share links point at the host; a machine's hostname rarely
      // resolves from outside); the agent's report only fills what the operator left unset.
      await coreNodeRepo.updateCore(trx, row.id, {
        auth_key_hash: tokenHash(authKey),
        ...(row.ip === null ? { ip: dto.ip } : {}),
        ...(row.region === null || row.region === '' ? { region: dto.region } : {}),
        sync_status: 'pending',
      });
      await inventoryRepo.update(trx, row.id, { status, updated_at: now });
      const after = (await coreNodeRepo.find(trx, row.id))!;
      emit('core.node.registered', { ...coreNodeEventData(after), reregistered: row.auth_key_hash !== null });
      this.statusEvent(emit, row, after);
      return { authKey, nodeId: Number(row.core_id) };
    });
  }

  /**
   * `needSync` whenever the reported revision differs (`!==`, so a node ahead after a restore also
   * resyncs). A node in `error` stays there until an apply succeeds; `disabled` is the operator's.
   */
  async heartbeat({ id: nodeId }: NodePrincipal, dto: NodeHeartbeatDto): Promise<{ ok: true; needSync: boolean }> {
    return this.deps.outbox.run(async (trx, emit) => {
      const row = await this.lock(trx, nodeId);
      const now = nowIso();
      const needSync = dto?.revision === undefined || dto.revision !== Number(row.revision);
      const status = row.status === 'disabled' || row.status === 'error' ? row.status : 'online';
      await inventoryRepo.update(trx, row.id, { last_seen_at: now, ...(status !== row.status ? { status, updated_at: now } : {}) });
      await coreNodeRepo.updateCore(trx, row.id, {
        ...(dto?.ip !== undefined && dto.ip !== row.ip ? { ip: dto.ip } : {}),
        ...(needSync && row.sync_status === 'synced' ? { sync_status: 'pending' } : {}),
      });
      if (status !== row.status) this.statusEvent(emit, row, (await coreNodeRepo.find(trx, row.id))!);
      return { ok: true as const, needSync };
    });
  }

  /**
   * 304 from the stored revision and hash alone: an unchanged config costs one indexed read. With
   * `waitMs` and an If-None-Match naming the current config, the answer is held until the revision
   * moves (a long-poll: changes reach the node in about a second, not at its next heartbeat).
   */
  async latestConfig({ id: nodeId }: NodePrincipal, ifNoneMatch: string | undefined, waitMs = 0, abort?: AbortSignal): Promise<LatestConfig> {
    const deadline = Date.now() + waitMs;
    let recheckMs = LONG_POLL_RECHECK_MS;
    for (;;) {
      const current = ifNoneMatch ? await this.currentEtag(nodeId) : null;
      if (current === null || !etagMatches(ifNoneMatch, current)) break;
      const left = deadline - Date.now();
      if (left <= 0 || abort?.aborted || this.closing.signal.aborted) return { notModified: true, etag: current };
      const started = Date.now();
      await configSignal.wait(nodeId, Math.min(left, recheckMs), AbortSignal.any([this.closing.signal, ...(abort ? [abort] : [])]));
      // Woken early: the bump may not be committed yet, so look again soon, then slow down again.
      recheckMs = Date.now() - started < recheckMs ? 50 : Math.min(recheckMs * 4, LONG_POLL_RECHECK_MS);
    }
    const served = await servedConfig(this.deps.db, nodeId, this.secretCache.reveal);
    const etag = configEtag(served.revision, served.hash);
    if (etagMatches(ifNoneMatch, etag)) return { notModified: true, etag };
    return { notModified: false, etag, body: served.body };
  }

  /** null when no hash is stored yet (the config must be rendered to know it). */
  private async currentEtag(nodeId: string): Promise<string | null> {
    const row = await revisionRepo.configState(this.deps.db, nodeId);
    if (!row) throw new NotFoundError('Core node');
    return row.config_hash === null ? null : configEtag(Number(row.revision), row.config_hash);
  }

  /** Answers every held long-poll now (server shutdown). */
  releaseWaiters(): void {
    this.closing.abort();
  }

  /**
   * The current revision applied → synced, online, error cleared. An older one is recorded but the
   * node stays pending (a newer change came meanwhile). A revision Core never issued is refused.
   */
  async applied({ id: nodeId }: NodePrincipal, dto: NodeConfigAppliedDto): Promise<{ ok: true }> {
    return this.deps.outbox.run(async (trx, emit) => {
      const row = await this.lock(trx, nodeId);
      const revision = Number(row.revision);
      if (dto.revision > revision) throw new ConflictError(`revision ${dto.revision} was never issued to this node (current revision is ${revision})`);
      const now = nowIso();
      const current = dto.revision === revision;
      const status = row.status === 'disabled' ? 'disabled' : current ? 'online' : row.status === 'error' ? 'error' : 'online';
      await coreNodeRepo.updateCore(trx, row.id, {
        applied_revision: dto.revision,
        sync_status: current ? 'synced' : 'pending',
        ...(current ? { last_error: null } : {}),
      });
      await inventoryRepo.update(trx, row.id, { last_seen_at: now, ...(status !== row.status ? { status, updated_at: now } : {}) });
      const after = (await coreNodeRepo.find(trx, row.id))!;
      if (current) emit('core.node.config_applied', coreNodeEventData(after));
      this.statusEvent(emit, row, after);
      return { ok: true as const };
    });
  }

  /** The node could not apply its config: status error, sync failed, message kept for operators. */
  async error({ id: nodeId }: NodePrincipal, dto: NodeErrorDto): Promise<{ ok: true }> {
    return this.deps.outbox.run(async (trx, emit) => {
      const row = await this.lock(trx, nodeId);
      const now = nowIso();
      const lastError = { message: dto.message, code: dto.code ?? null, details: dto.details ?? null, at: now };
      const status = row.status === 'disabled' ? 'disabled' : 'error';
      await coreNodeRepo.updateCore(trx, row.id, { sync_status: 'failed', last_error: JSON.stringify(lastError) });
      await inventoryRepo.update(trx, row.id, { last_seen_at: now, ...(status !== row.status ? { status, updated_at: now } : {}) });
      const after = (await coreNodeRepo.find(trx, row.id))!;
      emit('core.node.error', { ...coreNodeEventData(after), error: { message: lastError.message, code: lastError.code, at: lastError.at } });
      this.statusEvent(emit, row, after);
      return { ok: true as const };
    });
  }

  /** One pass of offline detection; returns how many nodes went offline. */
  async sweepOffline(): Promise<number> {
    const cutoff = new Date(Date.now() - this.deps.config.coreNodeOfflineAfterMs).toISOString();
    let count = 0;
    for (const stale of await coreNodeRepo.findStale(this.deps.db, cutoff)) {
      const changed = await this.deps.outbox.run(async (trx, emit) => {
        const before = await coreNodeRepo.find(trx, stale.id);
        if (!before || !(await inventoryRepo.setStatusIf(trx, stale.id, stale.status, { status: 'offline', updated_at: nowIso() }, { lastSeenBefore: cutoff })))
          return false;
        this.statusEvent(emit, before, (await coreNodeRepo.find(trx, stale.id))!);
        return true;
      });
      if (changed) count++;
    }
    return count;
  }

  private async lock(trx: Parameters<typeof coreNodeRepo.lock>[0], nodeId: string): Promise<CoreNodeRecord> {
    const row = await coreNodeRepo.lock(trx, nodeId);
    // The key was valid a moment ago; the node was deleted since.
    if (!row) throw new AppError('unauthorized', 'Invalid or missing node auth key');
    return row;
  }

  private statusEvent(emit: Emit, before: CoreNodeRecord, after: CoreNodeRecord): void {
    if (after.status !== before.status) emit('core.node.status_changed', { ...coreNodeEventData(after), previous_status: before.status });
  }
}
