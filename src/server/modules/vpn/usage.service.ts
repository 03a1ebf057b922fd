import type { Kysely } from 'kysely';
import type { OutboundUsageItem, SessionEventEntry, UsageEntry } from '../../../contract/core-node/ingest.ts';
import type { SessionEventRecord, UsageRecord, UsageListQuery, SessionEventListQuery } from '../../../contract/admin/vpn-usage.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { ValidationError, type ValidationDetails } from '../../errors.ts';
import { canonicalTimestamp, nowIso, toSecondPrecision } from '../../lib/time.ts';
import { limitReached } from './eligibility.ts';
import { chargeablePairs } from './grant-history.ts';
import { bumpForSubscriptions } from './revisions.ts';
import { emitStatusEvent } from './subscription-events.ts';
import { COUNTER_MAX, type SubscriptionDelta, type UsageRow, usageRepo } from './usage.repo.ts';
import type { SubscriptionLinkService } from './subscription-links.service.ts';
import type { NodePrincipal, Principal } from '../../principal.ts';
import { nodeScopeOf } from '../../access.ts';

/** Idempotency keys are remembered this long: far beyond any agent's retry window. */
const BATCH_KEY_TTL_MS = 24 * 3600_000;
/** How often the idempotency keys are pruned. */
export const BATCH_KEY_PRUNE_INTERVAL_MS = 3600_000;
/** Timestamps before this are a broken clock, not traffic. */
const EARLIEST = Date.parse('2000-01-01T00:00:00Z');
/** Node clocks may run ahead a little; a day ahead is a broken clock. */
const MAX_AHEAD_MS = 24 * 3600_000;
/** A rejected batch names at most this many bad entries. */
const MAX_REPORTED = 20;

const add = (a: number, b: number) => Math.min(a + b, COUNTER_MAX);

/** Collects per-entry problems so a rejected batch says which entries were wrong and why. */
class Problems {
  readonly details: ValidationDetails = {};
  private count = 0;

  add(path: string, message: string): void {
    this.count++;
    if (this.count <= MAX_REPORTED) ((this.details[path] ??= []) as string[]).push(message);
  }

  throwIfAny(list: string): void {
    if (this.count === 0) return;
    if (this.count > MAX_REPORTED) this.details[list] = [`${this.count - MAX_REPORTED} more problems not listed`];
    throw new ValidationError(this.details);
  }
}

function instant(value: string, path: string, problems: Problems, now: number): string {
  const iso = canonicalTimestamp(value);
  const ms = iso === null ? Number.NaN : Date.parse(iso);
  if (Number.isNaN(ms)) problems.add(path, 'is not a valid date-time');
  else if (ms < EARLIEST) problems.add(path, 'is before 2000-01-01');
  else if (ms > now + MAX_AHEAD_MS) problems.add(path, 'is more than a day in the future');
  else return new Date(ms).toISOString();
  return '';
}

const minuteOf = (iso: string) => `${iso.slice(0, 16)}:00.000Z`;

/**
 * Traffic from Core nodes (specs/core-node.md §1.4–1.6, §4.4): per-minute usage with subscription
 * counters and traffic limits, outbound counters, session events. Each push is one transaction, so a
 * batch is stored whole or not at all; an optional idempotency key makes a retried push count once.
 */
export interface UsageDeps {
  db: Kysely<Database>;
  /**
   * Pushes arrive all the time and rarely write an event; this outbox wakes the relay and the job
   * poller only after a commit that wrote events (the shared one wakes the poller after every commit).
   */
  outbox: Outbox;
  links: SubscriptionLinkService;
}

export class UsageService {
  readonly links: SubscriptionLinkService;
  private readonly outbox: Outbox;

  constructor(readonly deps: UsageDeps) {
    this.links = deps.links;
    this.outbox = deps.outbox;
  }

  /**
   * Every entry must name a node protocol of the pushing node, and a subscription (when given) must
   * belong to the entry's user; otherwise the whole batch is refused and nothing is stored, because
   * such an entry is another node's data or a forged attribution. A subscription that no longer
   * exists is not an error: its traffic is stored unattributed (subscription 0) and counts nowhere.
   * Nor is a subscription without a grant on the entry's protocol in the node's current or previous
   * revision: a node cannot charge what it never served, so that traffic is stored unattributed too.
   */
  async recordUsage({ id: nodeId }: NodePrincipal, entries: UsageEntry[], idempotencyKey?: string): Promise<void> {
    const problems = new Problems();
    const now = Date.now();
    const minutes = entries.map((e, i) => minuteOf(instant(e.recordedAt, `entries/${i}/recordedAt`, problems, now)));
    problems.throwIfAny('entries');
    if (entries.length === 0) return;

    await this.outbox.run(async (trx, emit) => {
      const stamp = nowIso();
      if (idempotencyKey && !(await usageRepo.claimBatch(trx, nodeId, 'usage', idempotencyKey, stamp))) return;

      const owned = await usageRepo.ownedProtocolIds(trx, nodeId, [...new Set(entries.map((e) => e.nodeProtocolId))]);
      const subscriptionIds = [...new Set(entries.flatMap((e) => (e.subscriptionId == null ? [] : [e.subscriptionId])))];
      const owners = await usageRepo.lockSubscriptions(trx, subscriptionIds);
      const chargeable = await chargeablePairs(trx, nodeId, subscriptionIds);
      entries.forEach((e, i) => {
        if (!owned.has(e.nodeProtocolId)) problems.add(`entries/${i}/nodeProtocolId`, `node protocol ${e.nodeProtocolId} does not belong to this node`);
        const owner = e.subscriptionId == null ? undefined : owners.get(e.subscriptionId);
        if (owner !== undefined && owner !== e.userId)
          problems.add(`entries/${i}/subscriptionId`, `subscription ${e.subscriptionId} does not belong to user ${e.userId}`);
      });
      problems.throwIfAny('entries');

      // One row per minute key and one delta per subscription: a statement may touch a row only once.
      const rows = new Map<string, UsageRow>();
      const deltas = new Map<number, SubscriptionDelta>();
      entries.forEach((e, i) => {
        const subscriptionId =
          e.subscriptionId != null && owners.has(e.subscriptionId) && chargeable.has(`${e.subscriptionId}|${e.nodeProtocolId}`) ? e.subscriptionId : 0;
        const key = `${e.nodeProtocolId}|${e.userId}|${subscriptionId}|${minutes[i]}`;
        const row = rows.get(key);
        if (row) {
          row.bytes_up = add(row.bytes_up, e.bytesUp);
          row.bytes_down = add(row.bytes_down, e.bytesDown);
        } else {
          rows.set(key, {
            node_id: nodeId,
            node_protocol_id: e.nodeProtocolId,
            user_id: e.userId,
            subscription_id: subscriptionId,
            recorded_at: minutes[i]!,
            bytes_up: e.bytesUp,
            bytes_down: e.bytesDown,
          });
        }
        if (subscriptionId !== 0) {
          const delta = deltas.get(subscriptionId) ?? { id: subscriptionId, up: 0, down: 0 };
          delta.up = add(delta.up, e.bytesUp);
          delta.down = add(delta.down, e.bytesDown);
          deltas.set(subscriptionId, delta);
        }
      });
      // Key order = lock order, so two concurrent pushes of one node cannot deadlock.
      const sorted = [...rows.values()].sort(
        (a, b) =>
          a.node_protocol_id - b.node_protocol_id ||
          a.user_id - b.user_id ||
          a.subscription_id - b.subscription_id ||
          (a.recorded_at < b.recorded_at ? -1 : a.recorded_at > b.recorded_at ? 1 : 0),
      );
      await usageRepo.upsertUsage(trx, sorted);

      const counted = await usageRepo.addToSubscriptions(
        trx,
        [...deltas.values()].sort((a, b) => a.id - b.id),
      );
      const reached = counted.filter((s) => s.status === 'active' && limitReached(s));
      const limited = await usageRepo.markLimited(
        trx,
        reached.map((s) => s.id),
        stamp,
      );
      if (limited.length === 0) return;
      for (const row of limited) emitStatusEvent(emit, 'active', row, stamp);
      // Limited subscriptions leave every node config that carried them.
      await bumpForSubscriptions(
        trx,
        limited.map((row) => Number(row.id)),
      );
    });
  }

  /** Adds to the node's outbound counters by tag; tags without an outbound row (`direct`, `block`) are ignored. */
  async recordOutboundUsage({ id: nodeId }: NodePrincipal, items: OutboundUsageItem[], idempotencyKey?: string): Promise<void> {
    if (items.length === 0) return;
    const byTag = new Map<string, { tag: string; up: number; down: number }>();
    for (const item of items) {
      const delta = byTag.get(item.tag) ?? { tag: item.tag, up: 0, down: 0 };
      delta.up = add(delta.up, item.bytesUp);
      delta.down = add(delta.down, item.bytesDown);
      byTag.set(item.tag, delta);
    }
    await this.deps.db.transaction().execute(async (trx) => {
      if (idempotencyKey && !(await usageRepo.claimBatch(trx, nodeId, 'outbound-usage', idempotencyKey, nowIso()))) return;
      await usageRepo.addToOutbounds(
        trx,
        nodeId,
        [...byTag.values()].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)),
      );
    });
  }

  /**
   * Stores the events, then moves each of the user's subscriptions that this node serves with the
   * event's protocol to the newest state the batch reports for it (`online` → online, `online_at`,
   * `last_node_id`; `offline` → not online). A user holding several such subscriptions has them all
   * moved: the agent knows users, not subscriptions.
   */
  async recordSessionEvents({ id: nodeId }: NodePrincipal, events: SessionEventEntry[], idempotencyKey?: string): Promise<void> {
    const problems = new Problems();
    const now = Date.now();
    const times = events.map((e, i) => instant(e.occurredAt, `events/${i}/occurredAt`, problems, now));
    problems.throwIfAny('events');
    if (events.length === 0) return;

    await this.deps.db.transaction().execute(async (trx) => {
      const stamp = nowIso();
      if (idempotencyKey && !(await usageRepo.claimBatch(trx, nodeId, 'session-events', idempotencyKey, stamp))) return;
      await usageRepo.insertSessionEvents(
        trx,
        events.map((e, i) => ({
          node_id: nodeId,
          user_id: e.userId,
          protocol: e.protocol,
          event_type: e.eventType,
          occurred_at: times[i]!,
          ip_address: e.ipAddress ?? null,
          inserted_at: stamp,
        })),
      );

      const served = await usageRepo.servedSubscriptions(trx, nodeId, [...new Set(events.map((e) => e.userId))]);
      const subscriptionsOf = new Map<string, number[]>();
      for (const s of served) {
        const key = `${s.user_id}|${s.protocol}`;
        subscriptionsOf.set(key, [...(subscriptionsOf.get(key) ?? []), Number(s.subscription_id)]);
      }
      // Newest event per subscription; on equal times the later one in the batch wins.
      const latest = new Map<number, { subscriptionId: number; online: boolean; at: string }>();
      events.forEach((e, i) => {
        for (const subscriptionId of subscriptionsOf.get(`${e.userId}|${e.protocol}`) ?? []) {
          const current = latest.get(subscriptionId);
          if (!current || current.at <= times[i]!) latest.set(subscriptionId, { subscriptionId, online: e.eventType === 'online', at: times[i]! });
        }
      });
      await usageRepo.applyPresence(trx, nodeId, [...latest.values()]);
    });
  }

  async listUsage(principal: Principal, query: UsageListQuery): Promise<Page<UsageRecord>> {
    const page = await usageRepo.listUsage(this.deps.db, query, nodeScopeOf(principal));
    return {
      pagination: page.pagination,
      items: page.items.map((r) => ({
        id: Number(r.id),
        node_id: r.node_id,
        node_protocol_id: Number(r.node_protocol_id),
        user_id: Number(r.user_id),
        subscription_id: Number(r.subscription_id) === 0 ? null : Number(r.subscription_id),
        recorded_at: toSecondPrecision(r.recorded_at),
        bytes_up: Number(r.bytes_up),
        bytes_down: Number(r.bytes_down),
      })),
    };
  }

  async listSessionEvents(principal: Principal, query: SessionEventListQuery): Promise<Page<SessionEventRecord>> {
    const page = await usageRepo.listSessionEvents(this.deps.db, query, nodeScopeOf(principal));
    return {
      pagination: page.pagination,
      items: page.items.map((r) => ({
        id: Number(r.id),
        node_id: r.node_id,
        user_id: Number(r.user_id),
        protocol: r.protocol,
        event_type: r.event_type,
        occurred_at: toSecondPrecision(r.occurred_at),
        ip_address: r.ip_address,
        inserted_at: toSecondPrecision(r.inserted_at),
      })),
    };
  }

  /** Forgets idempotency keys older than a day; any instance may run it, deleting twice is harmless. */
  async pruneBatchKeys(now = Date.now()): Promise<number> {
    return usageRepo.pruneBatches(this.deps.db, new Date(now - BATCH_KEY_TTL_MS).toISOString());
  }
}
