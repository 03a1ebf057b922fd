/**
 * The manager's nodes over REST (manager spec §5.3): create one with a one-time registration token
 * (only its hash is stored), list, read, rename, re-issue the token, delete. A node is an inventory
 * row of kind `manager-edge` or `manager-relay` plus its `manager_nodes` facts. Node scope applies to
 * every call: a node outside the caller's `allowed_node_ids` does not exist for them.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type {
  ManagerNode,
  ManagerNodeCreated,
  ManagerNodeCreateRequest,
  ManagerNodeListQuery,
  ManagerNodeUpdateRequest,
} from '../../../contract/manager/nodes.ts';
import { assertNodeAccess, nodeScopeOf } from '../../access.ts';
import type { Database } from '../../db/schema.ts';
import { AppError, NotFoundError } from '../../errors.ts';
import { UUID_PATTERN, uuidv7 } from '../../lib/ids.ts';
import { tokenHash } from '../../lib/secrets.ts';
import { nowIso } from '../../lib/time.ts';
import type { Principal } from '../../principal.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { driverOf } from './devices.ts';
import { type ManagerNodeRecord, managerRepo } from './manager.repo.ts';

export interface ManagerNodeServiceDeps {
  db: Kysely<Database>;
  /** Ends the node's live session wherever it is (the node was deleted). */
  closeSession(nodeId: string): void;
}

export class ManagerNodeService {
  constructor(private readonly deps: ManagerNodeServiceDeps) {}

  async list(principal: Principal, query: ManagerNodeListQuery): Promise<ManagerNode[]> {
    const rows = await managerRepo.list(this.deps.db, { deviceType: query.device_type }, nodeScopeOf(principal));
    return rows.map(render);
  }

  async create(principal: Principal, input: ManagerNodeCreateRequest): Promise<ManagerNodeCreated> {
    const deviceType = input.device_type ?? 'edge';
    const driver = driverOf(deviceType);
    if (!driver) throw new AppError('bad_request', `unknown device type: ${deviceType}`);
    const expiresAt = futureOrNull(input.expires_at);
    // A restricted operator could not see the node they create; the manager only lets admins create.
    if (nodeScopeOf(principal) !== null) throw new AppError('forbidden', 'Operators restricted to some nodes cannot create nodes');
    const id = uuidv7();
    const token = randomUUID();
    const now = nowIso();
    await this.deps.db.transaction().execute(async (trx) => {
      await inventoryRepo.insert(trx, {
        id,
        kind: driver.kind,
        name: input.name,
        cluster_id: null,
        status: 'pending',
        last_seen_at: null,
        version: null,
        inserted_at: now,
        updated_at: now,
      });
      await managerRepo.insert(trx, {
        node_id: id,
        device_type: driver.deviceType,
        description: input.description ?? null,
        expires_at: expiresAt,
        registration_token_hash: tokenHash(token),
        node_secret_enc: null,
        last_health: null,
        last_stats: null,
        last_stats_at: null,
        software_version: null,
        protocol_version: null,
        metadata: null,
        held_by: null,
      });
    });
    return { ...(await this.get(principal, id)), registration_token: token };
  }

  async get(principal: Principal, id: string): Promise<ManagerNode> {
    return render(await this.require(this.deps.db, principal, id));
  }

  async update(principal: Principal, id: string, input: ManagerNodeUpdateRequest): Promise<ManagerNode> {
    const expiresAt = input.expires_at === undefined ? undefined : futureOrNull(input.expires_at);
    await this.deps.db.transaction().execute(async (trx) => {
      const node = await this.require(trx, principal, id);
      await inventoryRepo.update(trx, node.node_id, { ...(input.name !== undefined ? { name: input.name } : {}), updated_at: nowIso() });
      await managerRepo.update(trx, node.node_id, {
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
      });
    });
    return this.get(principal, id);
  }

  /** Deletes the node, its facts and its events, and closes its live session. */
  async delete(principal: Principal, id: string): Promise<void> {
    const node = await this.require(this.deps.db, principal, id);
    if (!(await inventoryRepo.delete(this.deps.db, node.node_id))) throw new NotFoundError('Node');
    this.deps.closeSession(node.node_id);
  }

  /**
   * A new registration token (the old one, if unused, stops working) and status `pending`. The
   * node secret stays valid: a registered node keeps reconnecting with it.
   */
  async issueToken(principal: Principal, id: string): Promise<{ registration_token: string }> {
    const token = randomUUID();
    await this.deps.db.transaction().execute(async (trx) => {
      const node = await this.require(trx, principal, id);
      await managerRepo.update(trx, node.node_id, { registration_token_hash: tokenHash(token) });
      await inventoryRepo.update(trx, node.node_id, { status: 'pending', updated_at: nowIso() });
    });
    return { registration_token: token };
  }

  private require(db: Kysely<Database>, principal: Principal, id: string): Promise<ManagerNodeRecord> {
    return requireManagerNode(db, principal, id);
  }
}

/** The node the caller may touch, else 404 (a node outside their scope does not exist for them). */
export async function requireManagerNode(db: Kysely<Database>, principal: Principal, id: string): Promise<ManagerNodeRecord> {
  const nodeId = id.toLowerCase();
  if (!UUID_PATTERN.test(nodeId)) throw new NotFoundError('Node');
  assertNodeAccess(principal, nodeId);
  const node = await managerRepo.find(db, nodeId);
  if (!node) throw new NotFoundError('Node');
  return node;
}

function futureOrNull(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const at = new Date(value);
  if (!(at.getTime() > Date.now())) throw new AppError('bad_request', 'expires_at must be in the future');
  return at.toISOString();
}

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function render(row: ManagerNodeRecord): ManagerNode {
  return {
    id: row.node_id,
    name: row.name,
    description: row.description,
    device_type: row.device_type,
    status: row.status as ManagerNode['status'],
    last_seen_at: row.last_seen_at,
    last_health: parseJson(row.last_health) as ManagerNode['last_health'],
    last_stats: parseJson(row.last_stats) as ManagerNode['last_stats'],
    last_stats_at: row.last_stats_at,
    software_version: row.software_version,
    metadata: parseJson(row.metadata),
    expires_at: row.expires_at,
    created_at: row.inserted_at,
    updated_at: row.updated_at,
  };
}
