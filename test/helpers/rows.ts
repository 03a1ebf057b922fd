/**
 * Factories for repo tests on a scratch database (test/helpers/db.ts). Each makes one real row
 * through the repo or service that owns it, takes overrides, and returns the row's id (a cluster: id and name): a test
 * builds exactly the rows it reads, with no shared fixtures.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/server/db/schema.ts';
import { Outbox } from '../../src/server/events/outbox.ts';
import { uuidv7 } from '../../src/server/lib/ids.ts';
import { dataKeyFromBytes, SecretBox } from '../../src/server/lib/secrets.ts';
import type { Principal } from '../../src/server/principal.ts';
import { clusterRepo } from '../../src/server/modules/clusters/cluster.repo.ts';
import { type CommandRow, commandRepo } from '../../src/server/modules/commands/command.repo.ts';
import { type ExecutionRow, executionRepo } from '../../src/server/modules/commands/execution.repo.ts';
import { inventoryRepo } from '../../src/server/modules/inventory/inventory.repo.ts';
import { EDGE_AGENT_KIND } from '../../src/server/modules/inventory/kinds.ts';
import { nodeRepo } from '../../src/server/modules/nodes/node.repo.ts';
import { CoreNodeAdminService } from '../../src/server/modules/vpn/core-node-admin.service.ts';
import { ProtocolService } from '../../src/server/modules/vpn/protocol.service.ts';
import { SubscriptionService } from '../../src/server/modules/vpn/subscription.service.ts';
import { VpnUserService } from '../../src/server/modules/vpn/vpn-user.service.ts';
import { uniqueName } from './factories.ts';

const MASTER: Principal = { type: 'api-key', key: 'master' };
const nowIso = () => new Date().toISOString();

/** Cluster ranges are unique: each factory call takes the next /24 of 10.0.0.0/8. */
let nextRange = 0;
const uniqueRange = () => {
  const n = nextRange++;
  return `10.${(n >> 8) & 255}.${n & 255}.0/24`;
};

export function rowFactory(db: Kysely<Database>) {
  const secrets = new SecretBox(dataKeyFromBytes(randomBytes(32)));
  const outbox = new Outbox(db, 'test', () => {});
  const coreNodes = new CoreNodeAdminService(db, outbox, { offlineAfterMs: 90_000 });
  const protocols = new ProtocolService(db, secrets);
  const users = new VpnUserService(db);
  const subscriptions = new SubscriptionService(db, outbox, secrets);

  return {
    async cluster(overrides: { name?: string; ipv4_range?: string; node_limit?: number | null } = {}): Promise<{ id: string; name: string }> {
      const now = nowIso();
      const row = { id: uuidv7(), name: uniqueName(), ipv4_range: uniqueRange(), node_limit: null, inserted_at: now, updated_at: now, ...overrides };
      await clusterRepo.insert(db, row);
      return row;
    },

    async edgeNode(overrides: { cluster_id?: string | null; name?: string; status?: string } = {}): Promise<string> {
      const id = randomUUID();
      const now = nowIso();
      await inventoryRepo.insert(db, {
        id,
        kind: EDGE_AGENT_KIND,
        name: uniqueName('node'),
        cluster_id: null,
        status: 'healthy',
        last_seen_at: now,
        version: '1.0.0',
        inserted_at: now,
        updated_at: now,
        ...overrides,
      });
      await nodeRepo.insertEdge(db, {
        node_id: id,
        id_type: 'machine_id',
        http_port: 8080,
        ssh_port: 22,
        host_metrics_port: 9100,
        wireguard_metrics_port: 9586,
        http_proxy_port: 3128,
        socks5_proxy_port: 1080,
        self_update_enabled: 1,
        api_token_hash: randomBytes(16).toString('hex'),
        api_token_enc: 'sealed',
        proxy_password_enc: 'sealed',
      });
      return id;
    },

    async command(overrides: Partial<CommandRow> = {}): Promise<string> {
      const now = nowIso();
      const row: CommandRow = {
        id: uuidv7(),
        command_text: 'uptime',
        timeout: null,
        expired_at: null,
        targeting: '{"type":"all"}',
        node_scope: null,
        inserted_at: now,
        updated_at: now,
        ...overrides,
      };
      await commandRepo.insert(db, row);
      return row.id;
    },

    /** An execution row, not stored (for `executionRepo.insertMany`). */
    executionRow(commandId: string, nodeId: string | null, overrides: Partial<ExecutionRow> = {}): ExecutionRow {
      const now = nowIso();
      return {
        id: uuidv7(),
        command_id: commandId,
        node_id: nodeId,
        cluster_id: null,
        target_all: 1,
        status: 'pending',
        output: null,
        exit_code: null,
        sent_at: null,
        completed_at: null,
        cancelled_at: null,
        inserted_at: now,
        updated_at: now,
        ...overrides,
      };
    },

    async execution(commandId: string, nodeId: string | null, overrides: Partial<ExecutionRow> = {}): Promise<string> {
      const [id] = await executionRepo.insertMany(db, [this.executionRow(commandId, nodeId, overrides)]);
      if (!id) throw new Error('execution: not inserted');
      return id;
    },

    async coreNode(overrides: { name?: string; host?: string } = {}): Promise<string> {
      const name = uniqueName('core');
      return (await coreNodes.create({ name, host: `${name}.example.com`, ...overrides })).id;
    },

    async protocol(nodeId: string, overrides: { protocol?: 'vless' | 'trojan' | 'vmess'; port?: number } = {}): Promise<number> {
      return (await protocols.create(MASTER, { node_id: nodeId, protocol: 'vless', port: 443, ...overrides })).id;
    },

    async vpnUser(overrides: { username?: string } = {}): Promise<number> {
      return (await users.create({ username: uniqueName('user'), ...overrides })).id;
    },

    async subscription(
      userId: number,
      overrides: {
        node_protocol_ids?: number[];
        traffic_limit_bytes?: number;
        expires_at?: string | null;
        reset_strategy?: 'no_reset' | 'day' | 'week' | 'month';
        status?: 'active' | 'disabled';
      } = {},
    ): Promise<number> {
      return (await subscriptions.create(MASTER, { user_id: userId, ...overrides })).id;
    },
  };
}
