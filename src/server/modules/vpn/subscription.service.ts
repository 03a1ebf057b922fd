/**
 * Subscriptions and their grants (which node protocols each may use). Every change re-renders the
 * nodes it can affect — those owning protocols the subscription is granted, before and after the
 * change — and bumps the ones whose config changed, in the same transaction.
 *
 * Subscriptions are not node-owned, so every operator sees every one; their grants are (through
 * the protocol's node), so a restricted caller sees, grants and takes away only protocols on nodes
 * in their scope, and grants elsewhere survive their changes untouched.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import { canTouchNode, nodeScopeOf } from '../../access.ts';
import type { NodeScope } from '../../db/scope.ts';
import type { Principal } from '../../principal.ts';
import type {
  VpnSubscription,
  VpnSubscriptionCreateRequest,
  VpnSubscriptionListQuery,
  VpnSubscriptionUpdateRequest,
} from '../../../contract/admin/vpn-subscriptions.ts';
import { chunks } from '../../db/chunks.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { nowIso, storedTimestamp, toSecondPrecision } from '../../lib/time.ts';
import { newLinkUuid, newSsSecret } from './credentials.ts';
import { liveStatus } from './eligibility.ts';
import { bumpForSubscriptions, bumpNodes, nodesOfProtocols, nodesOfSubscriptions } from './revisions.ts';
import { rememberRemovedGrants } from './grant-history.ts';
import { protocolRepo } from './protocol.repo.ts';
import { subscriptionRepo } from './subscription.repo.ts';
import { sweepSubscriptions } from './subscription-sweep.ts';
import { emitStatusEvent } from './subscription-events.ts';
import type { VpnSubscriptionsTable } from '../../db/tables/vpn.ts';
import { vpnUserRepo } from './vpn-user.repo.ts';

type Db = Kysely<Database>;
export type SubscriptionRow = Selectable<VpnSubscriptionsTable>;

/** Any accepted date-time (offsets included) as stored: UTC with milliseconds, so text order is time order. */
const storedTime = (value: string | null | undefined): string | null => (value ? storedTimestamp(value) : null);

export class SubscriptionService {
  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly secrets: SecretBox,
  ) {}

  async create(principal: Principal, input: VpnSubscriptionCreateRequest): Promise<VpnSubscription> {
    const id = await this.outbox.run(async (trx) => {
      const errors: Record<string, string[]> = {};
      const user = await vpnUserRepo.lockIdById(trx, input.user_id);
      if (!user) errors.user_id = ['does not exist'];
      const protocolIds = input.node_protocol_ids ?? [];
      const missing = await this.missingProtocols(trx, protocolIds, nodeScopeOf(principal));
      if (missing.length > 0) errors.node_protocol_ids = [`unknown node protocol ids: ${missing.join(', ')}`];
      if (Object.keys(errors).length > 0) throw new ValidationError(errors);

      const now = nowIso();
      const facts = { traffic_limit_bytes: input.traffic_limit_bytes ?? 0, used_up_bytes: 0, used_down_bytes: 0, expires_at: storedTime(input.expires_at) };
      const id = await subscriptionRepo.insert(trx, {
        user_id: input.user_id,
        link_uuid: newLinkUuid(),
        status: input.status === 'disabled' ? 'disabled' : liveStatus(facts, now),
        ...facts,
        lifetime_used_bytes: 0,
        reset_strategy: input.reset_strategy ?? 'no_reset',
        last_reset_at: null,
        revoked_at: null,
        online: 0,
        online_at: null,
        last_node_id: null,
        ss_password_enc: this.secrets.seal(newSsSecret()),
        inserted_at: now,
        updated_at: now,
      });
      await subscriptionRepo.addGrants(trx, id, protocolIds);
      await bumpForSubscriptions(trx, [id]);
      return id;
    });
    return this.get(principal, id);
  }

  async get(principal: Principal, id: number): Promise<VpnSubscription> {
    const row = await subscriptionRepo.find(this.db, id);
    if (!row) throw new NotFoundError('Subscription');
    return (await this.render(principal, [row]))[0]!;
  }

  async list(principal: Principal, query: VpnSubscriptionListQuery): Promise<Page<VpnSubscription>> {
    const page = await subscriptionRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: await this.render(principal, page.items), pagination: page.pagination };
  }

  /**
   * `status: active` re-derives the live status (a subscription over its limit comes back
   * `limited`); `disabled` sticks until set active again. Raising the limit or moving the expiry
   * brings a limited or expired subscription back.
   */
  async update(principal: Principal, id: number, input: VpnSubscriptionUpdateRequest): Promise<VpnSubscription> {
    await this.outbox.run(async (trx, emit) => {
      const before = await this.lock(trx, id);
      const now = nowIso();
      const next = {
        traffic_limit_bytes: input.traffic_limit_bytes ?? Number(before.traffic_limit_bytes),
        used_up_bytes: Number(before.used_up_bytes),
        used_down_bytes: Number(before.used_down_bytes),
        expires_at: input.expires_at !== undefined ? storedTime(input.expires_at) : before.expires_at,
      };
      const status = input.status === 'disabled' || (input.status === undefined && before.status === 'disabled') ? 'disabled' : liveStatus(next, now);
      const change = {
        traffic_limit_bytes: next.traffic_limit_bytes,
        expires_at: next.expires_at,
        status,
        ...(input.reset_strategy !== undefined ? { reset_strategy: input.reset_strategy } : {}),
        updated_at: now,
      };
      await subscriptionRepo.update(trx, id, change);
      await bumpForSubscriptions(trx, [id]);
      emitStatusEvent(emit, before.status, { ...before, ...change }, now);
    });
    return this.get(principal, id);
  }

  async delete(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lock(trx, id);
      const nodes = await nodesOfSubscriptions(trx, [id]);
      await subscriptionRepo.delete(trx, id);
      await bumpNodes(trx, nodes);
    });
  }

  /** A new link UUID and Shadowsocks secret: every credential of the old link stops working. */
  async revoke(principal: Principal, id: number): Promise<VpnSubscription> {
    await this.db.transaction().execute(async (trx) => {
      await this.lock(trx, id);
      const now = nowIso();
      await subscriptionRepo.update(trx, id, { link_uuid: newLinkUuid(), ss_password_enc: this.secrets.seal(newSsSecret()), revoked_at: now, updated_at: now });
      await bumpForSubscriptions(trx, [id]);
    });
    return this.get(principal, id);
  }

  /** Zeroes the period counters (lifetime stays); a limited subscription is served again. */
  async resetTraffic(principal: Principal, id: number): Promise<VpnSubscription> {
    await this.outbox.run(async (trx, emit) => {
      const before = await this.lock(trx, id);
      const now = nowIso();
      const next = { traffic_limit_bytes: Number(before.traffic_limit_bytes), used_up_bytes: 0, used_down_bytes: 0, expires_at: before.expires_at };
      const status = before.status === 'disabled' ? 'disabled' : liveStatus(next, now);
      const change = { used_up_bytes: 0, used_down_bytes: 0, last_reset_at: now, status, updated_at: now };
      await subscriptionRepo.update(trx, id, change);
      await bumpForSubscriptions(trx, [id]);
      emitStatusEvent(emit, before.status, { ...before, ...change }, now);
    });
    return this.get(principal, id);
  }

  // ── Grants ───────────────────────────────────────────────────────────────────────────────────

  /** Replaces the set of node protocols the subscription may use, among those the caller sees. */
  async setGrants(principal: Principal, id: number, protocolIds: number[]): Promise<VpnSubscription> {
    await this.changeGrants(principal, id, protocolIds, async (trx) => {
      await subscriptionRepo.clearGrants(trx, id, nodeScopeOf(principal));
      await subscriptionRepo.addGrants(trx, id, protocolIds);
    });
    return this.get(principal, id);
  }

  async addGrants(principal: Principal, id: number, protocolIds: number[]): Promise<VpnSubscription> {
    await this.changeGrants(principal, id, protocolIds, (trx) => subscriptionRepo.addGrants(trx, id, protocolIds));
    return this.get(principal, id);
  }

  async removeGrant(principal: Principal, id: number, protocolId: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lock(trx, id);
      if ((await this.missingProtocols(trx, [protocolId], nodeScopeOf(principal))).length > 0) throw new NotFoundError('Grant');
      const nodes = await nodesOfProtocols(trx, [protocolId]);
      if (!(await subscriptionRepo.removeGrant(trx, id, protocolId))) throw new NotFoundError('Grant');
      await rememberRemovedGrants(trx, id, [protocolId], await bumpNodes(trx, nodes));
    });
  }

  /** Nodes before and after the change: a protocol taken away changes its node's config too. */
  private async changeGrants(principal: Principal, id: number, protocolIds: number[], change: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lock(trx, id);
      // A protocol on a node outside the scope is as unknown as one that does not exist.
      const missing = await this.missingProtocols(trx, protocolIds, nodeScopeOf(principal));
      if (missing.length > 0) throw ValidationError.field('node_protocol_ids', `unknown node protocol ids: ${missing.join(', ')}`);
      const before = await nodesOfSubscriptions(trx, [id]);
      const granted = (await subscriptionRepo.grantsOf(trx, [id], null)).get(id) ?? [];
      await change(trx);
      const after = await nodesOfSubscriptions(trx, [id]);
      const kept = new Set((await subscriptionRepo.grantsOf(trx, [id], null)).get(id) ?? []);
      const bumped = await bumpNodes(trx, [...before, ...after]);
      await rememberRemovedGrants(
        trx,
        id,
        granted.filter((p) => !kept.has(p)),
        bumped,
      );
    });
  }

  /** Expiry and periodic traffic resets (subscription-sweep.ts). */
  sweep(now = new Date()): Promise<{ expired: number; reset: number }> {
    return sweepSubscriptions(this.db, this.outbox, now);
  }

  private async lock(trx: Db, id: number): Promise<SubscriptionRow> {
    const row = await subscriptionRepo.lock(trx, id);
    if (!row) throw new NotFoundError('Subscription');
    return row;
  }

  /** Ids among `ids` with no node protocol in the scope; the rest are locked so they cannot vanish meanwhile. */
  private async missingProtocols(trx: Db, ids: number[], scope: NodeScope): Promise<number[]> {
    const found = new Set<number>();
    for (const part of chunks(ids)) {
      for (const existing of await protocolRepo.lockExisting(trx, part, scope)) found.add(existing);
    }
    return ids.filter((i) => !found.has(i));
  }

  private async render(principal: Principal, rows: SubscriptionRow[]): Promise<VpnSubscription[]> {
    const grants = await subscriptionRepo.grantsOf(
      this.db,
      rows.map((r) => Number(r.id)),
      nodeScopeOf(principal),
    );
    return rows.map((row) => {
      const up = Number(row.used_up_bytes);
      const down = Number(row.used_down_bytes);
      return {
        id: Number(row.id),
        user_id: Number(row.user_id),
        link_uuid: row.link_uuid,
        status: row.status,
        traffic_limit_bytes: Number(row.traffic_limit_bytes),
        used_up_bytes: up,
        used_down_bytes: down,
        used_bytes: up + down,
        lifetime_used_bytes: Number(row.lifetime_used_bytes),
        reset_strategy: row.reset_strategy,
        last_reset_at: toSecondPrecision(row.last_reset_at),
        expires_at: toSecondPrecision(row.expires_at),
        revoked_at: toSecondPrecision(row.revoked_at),
        online: Number(row.online) === 1,
        online_at: toSecondPrecision(row.online_at),
        last_node_id: row.last_node_id !== null && canTouchNode(principal, row.last_node_id) ? row.last_node_id : null,
        node_protocol_ids: grants.get(Number(row.id)) ?? [],
        inserted_at: toSecondPrecision(row.inserted_at),
        updated_at: toSecondPrecision(row.updated_at),
      };
    });
  }
}
