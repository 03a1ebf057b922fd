/**
 * Core nodes on the admin side: an operator creates a node (inventory row of kind `core` plus its
 * `core_nodes` row) and gets its registration code once; only a hash and a public prefix are kept.
 * Resetting the code also retires the node's auth key, so whoever held the old code or key is out.
 */
import { assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Principal } from '../../principal.ts';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type {
  CoreNode,
  CoreNodeCreateRequest,
  CoreNodeListQuery,
  CoreNodeUpdateRequest,
  CoreNodeWithCode,
  RoutingRule,
} from '../../../contract/admin/vpn-nodes.ts';
import { uniqueViolationColumns } from '../../db/dialect.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { tokenHash } from '../../lib/secrets.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { CORE_KIND } from '../inventory/kinds.ts';
import { type CoreNodeRecord, coreNodeEventData, coreNodeRepo } from './core-node.repo.ts';
import { destinationErrors } from './destinations.ts';
import { outboundRepo } from './outbound.repo.ts';
import { protocolRepo } from './protocol.repo.ts';
import { redact } from './render.ts';
import { bumpNodes, hashNewNode } from './revisions.ts';
import { servedConfig } from './node-config.ts';

type Db = Kysely<Database>;

/** `npc_<8 hex public id>_<32 random bytes, base64url>`: the prefix is stored and shown, the rest never. */
export const REGISTRATION_CODE = /^(npc_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;

function newRegistrationCode(): { code: string; prefix: string; hash: string } {
  const prefix = `npc_${randomBytes(4).toString('hex')}`;
  const code = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { code, prefix, hash: tokenHash(code) };
}

const DEFAULT_ROUTING_RULES: RoutingRule[] = [{ protocol: ['bittorrent'], outbound_tag: 'block' }];

const MATCHERS = ['node_protocol_ids', 'domain', 'ip', 'port', 'source', 'network', 'protocol'] as const;

/** Routing rules may name only this node's outbounds and protocols, and must match something. */
async function routingRuleErrors(db: Db, nodeId: string | null, rules: RoutingRule[]): Promise<Record<string, string[]>> {
  const errors: Record<string, string[]> = {};
  const outbounds = new Set(['direct', 'block']);
  const protocols = new Set<number>();
  if (nodeId) {
    for (const tag of await outboundRepo.tagsOfNode(db, nodeId)) outbounds.add(tag);
    for (const id of await protocolRepo.idsOfNode(db, nodeId)) protocols.add(id);
  }
  rules.forEach((rule, i) => {
    if (!outbounds.has(rule.outbound_tag))
      (errors[`routing_rules/${i}/outbound_tag`] ??= []).push(`is not an outbound of this node (${[...outbounds].join(', ')})`);
    const unknown = (rule.node_protocol_ids ?? []).filter((id) => !protocols.has(id));
    if (unknown.length > 0) (errors[`routing_rules/${i}/node_protocol_ids`] ??= []).push(`unknown node protocol ids of this node: ${unknown.join(', ')}`);
    const empty = MATCHERS.every((m) => rule[m] === undefined || (Array.isArray(rule[m]) && (rule[m] as unknown[]).length === 0));
    if (empty) (errors[`routing_rules/${i}`] ??= []).push(`needs at least one of ${MATCHERS.join(', ')}`);
  });
  return errors;
}

function renderCoreNode(row: CoreNodeRecord): CoreNode {
  const lastError = row.last_error ? (JSON.parse(row.last_error) as { message: string; code: string | null; details: object | null; at: string }) : null;
  return {
    id: row.id,
    core_id: Number(row.core_id),
    name: row.name,
    code: row.code,
    host: row.host,
    ip: row.ip,
    region: row.region,
    status: row.status,
    sync_status: row.sync_status,
    revision: Number(row.revision),
    applied_revision: row.applied_revision === null ? null : Number(row.applied_revision),
    config_hash: row.config_hash,
    last_error: lastError && {
      message: lastError.message,
      code: lastError.code ?? null,
      details: lastError.details ?? null,
      at: toSecondPrecision(lastError.at),
    },
    registered: row.auth_key_hash !== null,
    routing_rules: JSON.parse(row.routing_rules) as RoutingRule[],
    allowed_destinations: JSON.parse(row.allowed_destinations) as string[],
    protocol_count: Number(row.protocol_count),
    outbound_count: Number(row.outbound_count),
    last_seen_at: toSecondPrecision(row.last_seen_at),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}

export class CoreNodeAdminService {
  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly options: { offlineAfterMs: number },
  ) {}

  async create(input: CoreNodeCreateRequest): Promise<CoreNodeWithCode> {
    const rules = input.routing_rules ?? DEFAULT_ROUTING_RULES;
    const errors = { ...(await routingRuleErrors(this.db, null, rules)), ...destinationErrors(input.allowed_destinations ?? []) };
    if (Object.keys(errors).length > 0) throw new ValidationError(errors);
    // core_id is max + 1: two creates racing on Postgres collide on the unique key; try again.
    for (let attempt = 0; ; attempt++) {
      const registration = newRegistrationCode();
      const id = uuidv7();
      try {
        await this.db.transaction().execute(async (trx) => {
          const now = nowIso();
          await inventoryRepo.insert(trx, {
            id,
            kind: CORE_KIND,
            name: input.name,
            cluster_id: null,
            status: 'pending',
            last_seen_at: null,
            version: null,
            inserted_at: now,
            updated_at: now,
          });
          await coreNodeRepo.insertCore(trx, {
            node_id: id,
            core_id: await coreNodeRepo.nextCoreId(trx),
            code: registration.prefix,
            registration_secret_hash: registration.hash,
            auth_key_hash: null,
            host: input.host,
            ip: input.ip ?? null,
            region: input.region ?? null,
            sync_status: 'pending',
            revision: 1,
            applied_revision: null,
            config_hash: null,
            last_error: null,
            routing_rules: JSON.stringify(rules),
            allowed_destinations: JSON.stringify(input.allowed_destinations ?? []),
          });
          await hashNewNode(trx, id);
        });
      } catch (error) {
        if (uniqueViolationColumns(error) && attempt < 5) continue;
        throw error;
      }
      return { ...(await this.read(id)), registration_code: registration.code };
    }
  }

  async get(principal: Principal, id: string): Promise<CoreNode> {
    assertNodeAccess(principal, id, 'Core node');
    return this.read(id);
  }

  private async read(id: string): Promise<CoreNode> {
    const row = await coreNodeRepo.find(this.db, id);
    if (!row) throw new NotFoundError('Core node');
    return renderCoreNode(row);
  }

  async list(principal: Principal, query: CoreNodeListQuery): Promise<Page<CoreNode>> {
    const page = await coreNodeRepo.list(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(renderCoreNode), pagination: page.pagination };
  }

  async update(principal: Principal, id: string, input: CoreNodeUpdateRequest): Promise<CoreNode> {
    assertNodeAccess(principal, id, 'Core node');
    await this.outbox.run(async (trx, emit) => {
      const row = await coreNodeRepo.lock(trx, id);
      if (!row) throw new NotFoundError('Core node');
      const errors = {
        ...(input.routing_rules !== undefined ? await routingRuleErrors(trx, id, input.routing_rules) : {}),
        ...destinationErrors(input.allowed_destinations ?? []),
      };
      if (Object.keys(errors).length > 0) throw new ValidationError(errors);
      const now = nowIso();
      let status = row.status;
      if (input.disabled === true) status = 'disabled';
      else if (input.disabled === false && row.status === 'disabled') {
        const live = row.last_seen_at !== null && Date.parse(row.last_seen_at) > Date.now() - this.options.offlineAfterMs;
        status = live ? 'online' : row.applied_revision === null ? 'pending' : 'offline';
      }
      await coreNodeRepo.updateCore(trx, id, {
        ...(input.host !== undefined ? { host: input.host } : {}),
        ...(input.ip !== undefined ? { ip: input.ip } : {}),
        ...(input.region !== undefined ? { region: input.region } : {}),
        ...(input.routing_rules !== undefined ? { routing_rules: JSON.stringify(input.routing_rules) } : {}),
        ...(input.allowed_destinations !== undefined ? { allowed_destinations: JSON.stringify(input.allowed_destinations) } : {}),
      });
      await inventoryRepo.update(trx, id, { ...(input.name !== undefined ? { name: input.name } : {}), status, updated_at: now });
      await bumpNodes(trx, [id]);
      if (status !== row.status) emit('core.node.status_changed', { ...coreNodeEventData((await coreNodeRepo.find(trx, id))!), previous_status: row.status });
    });
    return this.read(id);
  }

  /** Everything the node owned goes with it (protocols and their grants, outbounds). */
  async delete(principal: Principal, id: string): Promise<void> {
    assertNodeAccess(principal, id, 'Core node');
    await this.db.transaction().execute(async (trx) => {
      if (!(await coreNodeRepo.lock(trx, id))) throw new NotFoundError('Core node');
      await inventoryRepo.delete(trx, id);
    });
  }

  async resetCode(principal: Principal, id: string): Promise<CoreNodeWithCode> {
    assertNodeAccess(principal, id, 'Core node');
    for (let attempt = 0; ; attempt++) {
      const registration = newRegistrationCode();
      try {
        await this.db.transaction().execute(async (trx) => {
          if (!(await coreNodeRepo.lock(trx, id))) throw new NotFoundError('Core node');
          await coreNodeRepo.updateCore(trx, id, { code: registration.prefix, registration_secret_hash: registration.hash, auth_key_hash: null });
          await inventoryRepo.update(trx, id, { updated_at: nowIso() });
        });
      } catch (error) {
        if (uniqueViolationColumns(error) && attempt < 5) continue;
        throw error;
      }
      return { ...(await this.read(id)), registration_code: registration.code };
    }
  }

  /** The config the node would get now, its secrets (private keys, passwords) redacted. */
  async config(principal: Principal, id: string): Promise<string> {
    assertNodeAccess(principal, id, 'Core node');
    if (!(await coreNodeRepo.find(this.db, id))) throw new NotFoundError('Core node');
    return (await servedConfig(this.db, id, redact)).body;
  }
}
