/**
 * Commands to manager nodes (manager spec §2.1): one `command` frame with a fresh `command_id`,
 * sent through the node-channel seam (so it reaches the node whichever instance holds its socket)
 * and answered by the node's `command_ack` with the same id, within the command timeout. A
 * `get_config` is answered by the node's next `config_response` instead (it carries no id), so only
 * one is outstanding per node: callers asking meanwhile share it.
 *
 * The configs nodes report are cached in memory on the instance that saw them; any ack (late ones
 * included) drops the node's cached config, since the command may have changed it.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { CommandResult, NodeEndpoints, SecretRotated } from '../../../contract/manager/commands.ts';
import type { AppConfig } from '../../../contract/manager/edge-config.ts';
import { assertRole, nodeScopeOf } from '../../access.ts';
import { ChannelError, type Frame, type NodeChannels } from '../../channels/node-channels.ts';
import type { Database } from '../../db/schema.ts';
import type { DeviceTypesService } from '../manager-devices/device-types.service.ts';
import { validateEdgeConfig } from '../manager-devices/edge-config.validate.ts';
import { endpointsOf } from '../manager-devices/endpoints.ts';
import { NodeCommandError, NotFoundError, ValidationError } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { Principal } from '../../principal.ts';
import { requireManagerNode } from './manager-node.service.ts';
import { type ManagerNodeRecord, managerRepo } from './manager.repo.ts';

export interface NodeCommandDeps {
  db: Kysely<Database>;
  channels: NodeChannels;
  deviceTypes: DeviceTypesService;
  secrets: SecretBox;
  timeoutMs: number;
}

/** What a node acks (§2.1). */
export interface CommandAck {
  command_id?: string;
  success: boolean;
  data?: unknown;
  error?: string | null;
  error_code?: string;
}

type Action = Record<string, unknown>;

/** MGR polls 30 × 100 ms for a config it asked for on `GET …/config`. */
const CONFIG_WAIT_MS = 3_000;
/** The correlation id of `get_config` and `config_response` (see the hub's `correlationOf`). */
export const CONFIG_CORRELATION = 'config';

export class NodeCommandService {
  private readonly configs = new Map<string, unknown>();
  /** Outstanding `get_config` per node, shared by everyone waiting for it. */
  private readonly asking = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: NodeCommandDeps) {}

  /** `POST /api/v1/nodes/{id}/command`: Operator+, the driver's declared role, the node's answer. */
  async command(principal: Principal, id: string, action: Action): Promise<CommandResult> {
    const node = await this.operable(principal, id);
    this.deps.deviceTypes.assertCommandAllowed(principal, node.device_type, String(action.type));
    if (action.type === 'get_config') {
      const config = await this.fetchConfig(node.node_id, this.deps.timeoutMs);
      return { command_id: randomUUID(), success: true, data: config };
    }
    return this.run(node.node_id, action);
  }

  /** `GET /api/v1/nodes/{id}/config`: the cached config, else the node's answer within 3 s. */
  async getConfig(principal: Principal, id: string): Promise<unknown> {
    const node = await requireManagerNode(this.deps.db, principal, id);
    const cached = this.configs.get(node.node_id);
    if (cached !== undefined) return cached;
    if (!(await this.deps.channels.isConnected(node.node_id))) throw notConnected(node.node_id);
    try {
      return await this.fetchConfig(node.node_id, CONFIG_WAIT_MS);
    } catch (error) {
      if (error instanceof NodeCommandError && error.code !== 'node_unreachable') throw new NotFoundError('Config');
      throw error;
    }
  }

  /** `PUT /api/v1/nodes/{id}/config`: an edge's config is checked first (400 with the fields). */
  async putConfig(principal: Principal, id: string, config: Record<string, unknown>): Promise<CommandResult> {
    const node = await this.operable(principal, id);
    if (node.device_type === 'edge') {
      const details = validateEdgeConfig(config);
      if (details) throw new ValidationError(details);
    }
    return this.run(node.node_id, { type: 'update_config', config }, 'command_failed');
  }

  async createFlow(principal: Principal, id: string, flow: Record<string, unknown>): Promise<CommandResult> {
    const node = await this.operable(principal, id);
    return this.run(node.node_id, { type: 'create_flow', flow });
  }

  async deleteFlow(principal: Principal, id: string, flowId: string): Promise<CommandResult> {
    const node = await this.operable(principal, id);
    return this.run(node.node_id, { type: 'delete_flow', flow_id: flowId });
  }

  /** `GET /api/v1/nodes/endpoints`: flow addresses of the online edges whose config is cached here. */
  async endpoints(principal: Principal): Promise<NodeEndpoints[]> {
    const edges = await managerRepo.list(this.deps.db, { deviceType: 'edge' }, nodeScopeOf(principal));
    return edges
      .filter((edge) => edge.status === 'online' && isObject(this.configs.get(edge.node_id)))
      .map((edge) => ({ node_id: edge.node_id, node_name: edge.name, endpoints: endpointsOf(this.configs.get(edge.node_id) as AppConfig) }));
  }

  /** §2.5: the node gets a new secret; ours is replaced only once it acknowledged keeping it. */
  async rotateSecret(principal: Principal, id: string): Promise<SecretRotated> {
    assertRole(principal, 'admin');
    const node = await requireManagerNode(this.deps.db, principal, id);
    const secret = randomUUID();
    const result = await this.run(node.node_id, { type: 'rotate_secret', new_secret: secret });
    await managerRepo.update(this.deps.db, node.node_id, { node_secret_enc: this.deps.secrets.seal(secret) });
    return { success: true, command_id: result.command_id };
  }

  /** The tunnels' leg pushes: the node's ack, or a rejection when it is offline or silent. */
  async send(nodeId: string, action: Action): Promise<CommandAck> {
    try {
      const result = await this.run(nodeId, action);
      return { success: true, data: result.data };
    } catch (error) {
      if (error instanceof NodeCommandError && error.code === 'command_failed') return { success: false, error: error.message, error_code: error.errorCode };
      throw error;
    }
  }

  /** A `command_ack` no request waits for any more (late): the command may still have changed the config. */
  lateAck(nodeId: string): void {
    this.configs.delete(nodeId);
  }

  /** A `config_response` nobody asked for here: the node's config as of now. */
  configReported(nodeId: string, config: unknown): void {
    this.configs.set(nodeId, config);
  }

  /** The node's session ended: what we knew of its config may be stale when it returns. */
  forget(nodeId: string): void {
    this.configs.delete(nodeId);
  }

  private async operable(principal: Principal, id: string): Promise<ManagerNodeRecord> {
    assertRole(principal, 'operator');
    return requireManagerNode(this.deps.db, principal, id);
  }

  private async run(nodeId: string, action: Action, offline: 'node_unreachable' | 'command_failed' = 'node_unreachable'): Promise<CommandResult> {
    const commandId = randomUUID();
    const frame = { type: 'command', timestamp: new Date().toISOString(), payload: { command_id: commandId, action } };
    let reply: Frame;
    try {
      reply = await this.deps.channels.request(nodeId, frame, { timeoutMs: this.deps.timeoutMs });
    } catch (error) {
      throw this.failure(error, nodeId, offline);
    }
    this.configs.delete(nodeId);
    const ack = (isObject(reply.payload) ? reply.payload : {}) as unknown as CommandAck;
    if (ack.success !== true)
      throw new NodeCommandError(
        'command_failed',
        typeof ack.error === 'string' && ack.error !== '' ? ack.error : 'Command failed on node',
        textOrUndefined(ack.error_code),
      );
    return ack.data === undefined ? { command_id: commandId, success: true } : { command_id: commandId, success: true, data: ack.data };
  }

  private fetchConfig(nodeId: string, timeoutMs: number): Promise<unknown> {
    const outstanding = this.asking.get(nodeId);
    if (outstanding) return outstanding;
    const frame = { type: 'command', timestamp: new Date().toISOString(), payload: { command_id: randomUUID(), action: { type: 'get_config' } } };
    const asked = this.deps.channels
      .request(nodeId, frame, { timeoutMs })
      .then(
        (reply) => {
          this.configs.set(nodeId, reply.payload);
          return reply.payload;
        },
        (error) => {
          throw this.failure(error, nodeId, 'node_unreachable');
        },
      )
      .finally(() => this.asking.delete(nodeId));
    this.asking.set(nodeId, asked);
    return asked;
  }

  private failure(error: unknown, nodeId: string, offline: 'node_unreachable' | 'command_failed'): unknown {
    if (!(error instanceof ChannelError)) return error;
    switch (error.reason) {
      case 'not_connected':
        return new NodeCommandError(offline, `Node ${nodeId} is not connected`);
      case 'timeout':
        return new NodeCommandError('node_timeout', `Command timed out waiting for node response (${this.deps.timeoutMs / 1000}s)`);
      default:
        return new NodeCommandError('command_failed', 'Node disconnected before acknowledging command');
    }
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const textOrUndefined = (value: unknown) => (typeof value === 'string' ? value : undefined);

const notConnected = (nodeId: string) => new NodeCommandError('node_unreachable', `Node ${nodeId} is not connected`);
