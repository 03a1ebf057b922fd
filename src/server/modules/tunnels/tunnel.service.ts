/**
 * The manager's tunnels (manager spec §2.4, §5.3): the record, its sealed secrets, and pushing its
 * legs — `create_tunnel` to the entry and exit edges, `authorize_tunnel` to the relay — through a
 * `send` that the node socket layer supplies (it answers with the node's `command_ack`, or rejects
 * when the node is offline or silent). All legs pushed → `active`; any leg not pushed → `pending`,
 * with one warning per failed leg, retried when its node connects and by `retryPending`.
 * Reading needs an operator, writing an admin; a restricted operator sees only tunnels whose legs
 * are all on nodes they may touch, and names other nodes as unknown.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tunnel, TunnelCreateRequest, TunnelDeleted, TunnelList, TunnelUpdateRequest, TunnelWithWarnings } from '../../../contract/manager/tunnels.ts';
import { assertRole, nodeScopeOf } from '../../access.ts';
import type { Database } from '../../db/schema.ts';
import type { TunnelRow } from '../../db/tables/tunnels.ts';
import { NotFoundError, ValidationError, type ValidationDetails } from '../../errors.ts';
import type { Outbox } from '../../events/outbox.ts';
import { canonicalUuid } from '../../lib/ids.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { parseSocketAddress } from '../../lib/socket-address.ts';
import { nowIso } from '../../lib/time.ts';
import type { Principal } from '../../principal.ts';
import type { FleetService } from '../inventory/fleet.service.ts';
import { type TunnelChange, tunnelRepo } from './tunnel.repo.ts';
import { edgeLegPayloads, relayAuthorization, type TunnelSecrets } from './tunnel-legs.ts';

/** The node's `command_ack` payload (§2.1). */
export interface CommandAck {
  success: boolean;
  error?: string | null;
  error_code?: string;
}

/** Sends one command to a node and resolves with its ack; rejects when it cannot be delivered or answered. */
export type SendCommand = (nodeId: string, action: Record<string, unknown>) => Promise<CommandAck>;

export interface TunnelDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  send: SendCommand;
  /** Node lookups go through the fleet view, so a node outside the caller's scope does not exist. */
  fleet: Pick<FleetService, 'get'>;
}

type Leg = 'ingress' | 'egress' | 'relay';

const EDGE_KIND = 'manager-edge';
const RELAY_KIND = 'manager-relay';
/** Fields a `create_tunnel` payload carries: changing one means the legs must be pushed again. */
const PUSHED_FIELDS = ['name', 'ingress_listen_port', 'egress_forward_addr', 'egress_peer_addr', 'relay_addr', 'relay_node_id'] as const;

const newSecret = () => randomBytes(32).toString('hex');

function legNode(row: TunnelRow, leg: Leg): string | null {
  return leg === 'ingress' ? row.ingress_node_id : leg === 'egress' ? row.egress_node_id : row.relay_node_id;
}

function legsOf(row: TunnelRow): Leg[] {
  return row.mode === 'relay' ? ['relay', 'ingress', 'egress'] : ['ingress', 'egress'];
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function renderTunnel(row: TunnelRow): Tunnel {
  return {
    id: row.id,
    name: row.name,
    protocol: row.protocol as Tunnel['protocol'],
    mode: row.mode as Tunnel['mode'],
    ingress_node_id: row.ingress_node_id,
    ingress_listen_port: row.ingress_listen_port,
    egress_node_id: row.egress_node_id,
    egress_forward_addr: row.egress_forward_addr,
    egress_peer_addr: row.egress_peer_addr,
    relay_addr: row.relay_addr,
    relay_node_id: row.relay_node_id,
    status: row.status as Tunnel['status'],
    associated_flow_ids: row.associated_flow_ids === null ? null : (JSON.parse(row.associated_flow_ids) as string[]),
    ingress_push_status: row.ingress_push_status as Tunnel['ingress_push_status'],
    egress_push_status: row.egress_push_status as Tunnel['egress_push_status'],
    relay_push_status: row.relay_push_status as Tunnel['relay_push_status'],
    ingress_push_error: row.ingress_push_error,
    egress_push_error: row.egress_push_error,
    relay_push_error: row.relay_push_error,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Every leg back to `pending`, as after a change or on creation. */
function legsPending(mode: string): Pick<TunnelChange, `${Leg}_push_status` | `${Leg}_push_error`> {
  return {
    ingress_push_status: 'pending',
    egress_push_status: 'pending',
    relay_push_status: mode === 'relay' ? 'pending' : null,
    ingress_push_error: null,
    egress_push_error: null,
    relay_push_error: null,
  };
}

export class TunnelService {
  constructor(private readonly deps: TunnelDeps) {}

  async list(principal: Principal, nodeId?: string): Promise<TunnelList> {
    assertRole(principal, 'operator');
    if (nodeId !== undefined) await this.deps.fleet.get(principal, nodeId);
    const rows = await tunnelRepo.list(this.deps.db, nodeScopeOf(principal), nodeId && canonicalUuid(nodeId));
    return { tunnels: rows.map(renderTunnel) };
  }

  async get(principal: Principal, id: string): Promise<Tunnel> {
    assertRole(principal, 'operator');
    return renderTunnel(await this.require(principal, id));
  }

  async create(principal: Principal, input: TunnelCreateRequest): Promise<TunnelWithWarnings> {
    assertRole(principal, 'admin');
    const fields = {
      name: input.name,
      protocol: input.protocol,
      mode: input.mode,
      ingress_node_id: canonicalUuid(input.ingress_node_id),
      ingress_listen_port: input.ingress_listen_port,
      egress_node_id: canonicalUuid(input.egress_node_id),
      egress_forward_addr: input.egress_forward_addr,
      egress_peer_addr: input.egress_peer_addr ?? null,
      relay_addr: input.relay_addr ?? null,
      relay_node_id: input.relay_node_id ? canonicalUuid(input.relay_node_id) : null,
    };
    await this.validate(principal, fields);
    const now = nowIso();
    const row: TunnelRow = {
      id: randomUUID(),
      ...fields,
      status: 'pending',
      associated_flow_ids: input.associated_flow_ids ? JSON.stringify(input.associated_flow_ids) : null,
      tunnel_key_enc: this.deps.secrets.seal(newSecret()),
      tunnel_bind_secret_enc: this.deps.secrets.seal(newSecret()),
      tunnel_psk_enc: fields.mode === 'direct' ? this.deps.secrets.seal(newSecret()) : null,
      ...(legsPending(fields.mode) as Pick<TunnelRow, `${Leg}_push_status` | `${Leg}_push_error`>),
      created_at: now,
      updated_at: now,
    };
    await this.deps.outbox.run(async (trx, emit) => {
      await tunnelRepo.insert(trx, row);
      emit('manager.tunnel.created', renderTunnel(row));
    });
    const warnings = await this.push(row, legsOf(row));
    return { ...(await this.current(row.id)), warnings };
  }

  /**
   * Changes what is given. A change the legs carry takes the tunnel off both edges and pushes it
   * again (§2.4); `status: "disabled"` takes it off every node, `"pending"` brings it back.
   */
  async update(principal: Principal, id: string, input: TunnelUpdateRequest): Promise<TunnelWithWarnings> {
    assertRole(principal, 'admin');
    const before = await this.require(principal, id);
    const fields = {
      ...before,
      ...(input.name !== undefined && { name: input.name }),
      ...(input.ingress_listen_port !== undefined && { ingress_listen_port: input.ingress_listen_port }),
      ...(input.egress_forward_addr !== undefined && { egress_forward_addr: input.egress_forward_addr }),
      ...(input.egress_peer_addr !== undefined && { egress_peer_addr: input.egress_peer_addr }),
      ...(input.relay_addr !== undefined && { relay_addr: input.relay_addr }),
      ...(input.relay_node_id !== undefined && { relay_node_id: input.relay_node_id && canonicalUuid(input.relay_node_id) }),
    };
    await this.validate(principal, fields);
    const disabling = input.status === 'disabled' && before.status !== 'disabled';
    const enabling = input.status === 'pending' && before.status === 'disabled';
    const moved = PUSHED_FIELDS.some((field) => fields[field] !== before[field]);
    const repush = !disabling && (enabling || (moved && before.status !== 'disabled'));

    const warnings: string[] = [];
    if (disabling || repush) warnings.push(...(await this.teardown(before, disabling || fields.relay_node_id !== before.relay_node_id)));
    const change: TunnelChange = {
      ...Object.fromEntries(PUSHED_FIELDS.map((field) => [field, fields[field]])),
      ...(input.associated_flow_ids !== undefined && { associated_flow_ids: input.associated_flow_ids ? JSON.stringify(input.associated_flow_ids) : null }),
      ...(disabling || repush ? { ...legsPending(before.mode), status: disabling ? 'disabled' : 'pending' } : {}),
      updated_at: nowIso(),
    };
    const after = await this.deps.outbox.run(async (trx, emit) => {
      if (!(await tunnelRepo.update(trx, before.id, change))) throw new NotFoundError('Tunnel');
      const row = (await tunnelRepo.find(trx, before.id))!;
      emit('manager.tunnel.updated', renderTunnel(row));
      if (row.status !== before.status) emit('manager.tunnel.status_changed', { ...renderTunnel(row), previous_status: before.status });
      return row;
    });
    if (repush) warnings.push(...(await this.push(after, legsOf(after))));
    return { ...(await this.current(after.id)), warnings };
  }

  /** Deletes the record, then takes the tunnel off its edges and its relay; unreachable nodes are warnings. */
  async delete(principal: Principal, id: string): Promise<TunnelDeleted> {
    assertRole(principal, 'admin');
    const row = await this.require(principal, id);
    await this.deps.outbox.run(async (trx, emit) => {
      if (!(await tunnelRepo.delete(trx, row.id))) throw new NotFoundError('Tunnel');
      emit('manager.tunnel.deleted', renderTunnel(row));
    });
    return { deleted: true, warnings: row.status === 'disabled' ? [] : await this.teardown(row, true) };
  }

  /** A node's channel opened: push its legs of every live tunnel (§1.8). */
  async nodeConnected(nodeId: string): Promise<void> {
    for (const row of await tunnelRepo.liveOnNode(this.deps.db, nodeId))
      await this.push(
        row,
        legsOf(row).filter((leg) => legNode(row, leg) === nodeId),
      );
  }

  /** A node's channel closed: its legs are no longer known to hold (the relay keeps authorizations in memory only). */
  async nodeDisconnected(nodeId: string): Promise<void> {
    for (const row of await tunnelRepo.liveOnNode(this.deps.db, nodeId))
      for (const leg of legsOf(row)) if (legNode(row, leg) === nodeId) await this.recordLeg(row.id, leg, 'pending', null);
  }

  /** The periodic retry (every 30 s in MGR): legs of pending tunnels that are not pushed yet. */
  async retryPending(): Promise<void> {
    for (const row of await tunnelRepo.pending(this.deps.db))
      await this.push(
        row,
        legsOf(row).filter((leg) => row[`${leg}_push_status`] !== 'pushed'),
      );
  }

  private async require(principal: Principal, id: string): Promise<TunnelRow> {
    const row = await tunnelRepo.find(this.deps.db, canonicalUuid(id), nodeScopeOf(principal));
    if (!row) throw new NotFoundError('Tunnel');
    return row;
  }

  private async current(id: string): Promise<Tunnel> {
    const row = await tunnelRepo.find(this.deps.db, id);
    if (!row) throw new NotFoundError('Tunnel');
    return renderTunnel(row);
  }

  private async validate(
    principal: Principal,
    fields: Pick<TunnelRow, 'mode' | 'ingress_node_id' | 'egress_node_id' | 'egress_forward_addr' | 'egress_peer_addr' | 'relay_addr' | 'relay_node_id'>,
  ) {
    const details: ValidationDetails = {};
    const fail = (field: string, message: string) => ((details[field] ??= []) as string[]).push(message);
    const address = (field: 'egress_forward_addr' | 'egress_peer_addr' | 'relay_addr') => {
      const value = fields[field];
      if (value !== null && !parseSocketAddress(value)) fail(field, 'must be ip:port');
    };
    address('egress_forward_addr');
    address('egress_peer_addr');
    address('relay_addr');
    if (fields.mode === 'relay') {
      if (fields.relay_addr === null) fail('relay_addr', 'is required in relay mode');
      if (fields.relay_node_id === null) fail('relay_node_id', 'is required in relay mode');
      if (fields.egress_peer_addr !== null) fail('egress_peer_addr', 'is only for direct mode');
    } else {
      if (fields.egress_peer_addr === null) fail('egress_peer_addr', 'is required in direct mode');
      if (fields.relay_addr !== null) fail('relay_addr', 'is only for relay mode');
      if (fields.relay_node_id !== null) fail('relay_node_id', 'is only for relay mode');
    }
    if (fields.ingress_node_id === fields.egress_node_id) fail('egress_node_id', 'must be another node than ingress_node_id');
    const nodes: Array<[string, string | null, string]> = [
      ['ingress_node_id', fields.ingress_node_id, EDGE_KIND],
      ['egress_node_id', fields.egress_node_id, EDGE_KIND],
      ['relay_node_id', fields.relay_node_id, RELAY_KIND],
    ];
    for (const [field, id, kind] of nodes) {
      if (id === null) continue;
      const node = await this.deps.fleet.get(principal, id).catch((error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      });
      if (node?.kind !== kind) fail(field, kind === EDGE_KIND ? 'is not a known edge node' : 'is not a known relay node');
    }
    if (Object.keys(details).length > 0) throw new ValidationError(details);
  }

  private openSecrets(row: TunnelRow): TunnelSecrets {
    const { secrets } = this.deps;
    return {
      encryptionKey: secrets.open(row.tunnel_key_enc),
      bindSecret: secrets.open(row.tunnel_bind_secret_enc),
      psk: row.tunnel_psk_enc === null ? null : secrets.open(row.tunnel_psk_enc),
    };
  }

  /** Sends `legs` (the relay first, so binds find their authorization), records each outcome; answers the warnings. */
  private async push(row: TunnelRow, legs: Leg[]): Promise<string[]> {
    if (legs.length === 0) return [];
    const secrets = this.openSecrets(row);
    const edge = edgeLegPayloads(renderTunnel(row), secrets);
    const action = (leg: Leg): Record<string, unknown> => (leg === 'relay' ? relayAuthorization(row, secrets) : edge[leg]);
    const warnings: string[] = [];
    const pushOne = async (leg: Leg) => {
      const nodeId = legNode(row, leg)!;
      const error = await this.deps.send(nodeId, action(leg)).then((ack) => (ack.success ? null : ack.error || 'Command failed on node'), reason);
      if (error !== null) warnings.push(`${leg} node ${nodeId}: ${error}`);
      await this.recordLeg(row.id, leg, error === null ? 'pushed' : 'failed', error);
    };
    if (legs.includes('relay')) await pushOne('relay');
    await Promise.all(legs.filter((leg) => leg !== 'relay').map(pushOne));
    return warnings;
  }

  /** Takes the tunnel off both edges and, when asked, revokes it on the relay; answers the warnings. */
  private async teardown(row: TunnelRow, revokeRelay: boolean): Promise<string[]> {
    const sends: Array<[Leg, string, Record<string, unknown>]> = [
      ['ingress', row.ingress_node_id, { type: 'delete_tunnel', tunnel_id: row.id }],
      ['egress', row.egress_node_id, { type: 'delete_tunnel', tunnel_id: row.id }],
    ];
    if (revokeRelay && row.relay_node_id) sends.push(['relay', row.relay_node_id, { type: 'revoke_tunnel', tunnel_id: row.id }]);
    const outcomes = await Promise.all(
      sends.map(([leg, nodeId, action]) =>
        this.deps.send(nodeId, action).then(
          (ack) => (ack.success ? null : `${leg} node ${nodeId}: ${ack.error || 'Command failed on node'}`),
          (error: unknown) => `${leg} node ${nodeId}: ${reason(error)}`,
        ),
      ),
    );
    return outcomes.filter((warning): warning is string => warning !== null);
  }

  /** One leg's outcome; the tunnel is active exactly when every leg is pushed (a disabled one stays disabled). */
  private async recordLeg(id: string, leg: Leg, status: 'pending' | 'pushed' | 'failed', error: string | null): Promise<void> {
    await this.deps.outbox.run(async (trx, emit) => {
      const row = await tunnelRepo.findLocked(trx, id);
      if (!row || row.status === 'disabled') return;
      const next: TunnelRow = { ...row, [`${leg}_push_status`]: status, [`${leg}_push_error`]: error };
      next.status = legsOf(next).every((each) => next[`${each}_push_status`] === 'pushed') ? 'active' : 'pending';
      if (next[`${leg}_push_status`] === row[`${leg}_push_status`] && next[`${leg}_push_error`] === row[`${leg}_push_error`]) return;
      next.updated_at = nowIso();
      await tunnelRepo.update(trx, id, {
        [`${leg}_push_status`]: status,
        [`${leg}_push_error`]: error,
        status: next.status,
        updated_at: next.updated_at,
      });
      if (next.status !== row.status) emit('manager.tunnel.status_changed', { ...renderTunnel(next), previous_status: row.status });
    });
  }
}
