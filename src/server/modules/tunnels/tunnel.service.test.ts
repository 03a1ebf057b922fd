import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { AppError } from '../../errors.ts';
import { Outbox } from '../../events/outbox.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { dataKeyFromBytes, SecretBox } from '../../lib/secrets.ts';
import type { OperatorPrincipal, Principal, Role } from '../../principal.ts';
import { FleetService } from '../inventory/fleet.service.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { bindToken } from './tunnel-legs.ts';
import { type CommandAck, TunnelService } from './tunnel.service.ts';

const MASTER: Principal = { type: 'api-key', key: 'master' };
const operator = (role: Role, allowedNodeIds: string[] | null = null): OperatorPrincipal => ({
  type: 'operator',
  id: uuidv7(),
  username: role,
  role,
  allowedNodeIds,
  credential: { kind: 'token', tokenId: 't' },
});

/** A test double of the not-yet-wired node socket: records every command, answers per node. */
class FakeNodes {
  sent: Array<{ nodeId: string; action: Record<string, any> }> = [];
  offline = new Set<string>();
  refusing = new Map<string, string>();
  send = async (nodeId: string, action: Record<string, unknown>): Promise<CommandAck> => {
    this.sent.push({ nodeId, action });
    if (this.offline.has(nodeId)) throw new Error(`Node ${nodeId} is not connected`);
    const refusal = this.refusing.get(nodeId);
    return refusal ? { success: false, error: refusal, error_code: 'bind_failed' } : { success: true };
  };
  take() {
    const sent = this.sent;
    this.sent = [];
    return sent;
  }
}

const isHex64 = (value: unknown) => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);

for (const engine of testEngines()) {
  describe(`tunnel service [${engine}]`, () => {
    let database: TestDatabase;
    let service: TunnelService;
    const nodes = new FakeNodes();
    const [edgeA, edgeB, edgeC, relay, agent] = [uuidv7(), uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    const events = async (type: string) =>
      (await database.db.selectFrom('events').select('envelope').where('type', '=', type).execute()).map((row) => JSON.parse(row.envelope).data);
    const relayInput = (overrides: Record<string, unknown> = {}) => ({
      name: 'studio link',
      protocol: 'udp' as const,
      mode: 'relay' as const,
      ingress_node_id: edgeA,
      ingress_listen_port: 9000,
      egress_node_id: edgeB,
      egress_forward_addr: '127.0.0.1:5000',
      relay_addr: '198.51.100.7:4433',
      relay_node_id: relay,
      ...overrides,
    });

    before(async () => {
      database = await openTestDatabase(engine);
      const at = new Date().toISOString();
      const node = (id: string, kind: string) => ({
        id,
        kind,
        name: kind,
        cluster_id: null,
        status: 'online',
        last_seen_at: null,
        version: null,
        inserted_at: at,
        updated_at: at,
      });
      // Manager nodes enroll over the node WebSocket, which is not wired yet: the inventory's own insert stands in.
      for (const [id, kind] of [
        [edgeA, 'manager-edge'],
        [edgeB, 'manager-edge'],
        [edgeC, 'manager-edge'],
        [relay, 'manager-relay'],
        [agent, 'edge-agent'],
      ] as const)
        await inventoryRepo.insert(database.db, node(id, kind));
      service = new TunnelService({
        db: database.db,
        outbox: new Outbox(database.db, 'test', () => {}),
        secrets: new SecretBox(dataKeyFromBytes(randomBytes(32))),
        send: nodes.send,
        fleet: new FleetService(database.db, {}),
      });
    });
    after(() => database.destroy());

    it('creates a relay tunnel: authorizes the relay first, pushes both edges, and is active with no secret in sight', async () => {
      const created = await service.create(MASTER, relayInput({ associated_flow_ids: ['f1'] }));
      assert.equal(created.status, 'active');
      assert.deepEqual(created.warnings, []);
      assert.deepEqual([created.ingress_push_status, created.egress_push_status, created.relay_push_status], ['pushed', 'pushed', 'pushed']);
      assert.deepEqual(created.associated_flow_ids, ['f1']);
      assert.match(created.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(!JSON.stringify(created).includes('secret') && !JSON.stringify(created).includes('key"'));

      const sent = nodes.take();
      assert.deepEqual(
        sent.map((s) => [s.nodeId, s.action.type]),
        [
          [relay, 'authorize_tunnel'],
          [edgeA, 'create_tunnel'],
          [edgeB, 'create_tunnel'],
        ],
      );
      const entry = sent[1]!.action.tunnel;
      const exit = sent[2]!.action.tunnel;
      assert.equal(entry.direction, 'egress');
      assert.equal(exit.direction, 'ingress');
      assert.ok(isHex64(entry.tunnel_bind_secret) && isHex64(entry.tunnel_encryption_key));
      assert.equal(entry.tunnel_bind_secret, exit.tunnel_bind_secret);
      assert.notEqual(entry.tunnel_bind_secret, entry.tunnel_encryption_key);
      assert.equal(entry.tunnel_psk, undefined);
      // The relay's tokens are the ones each edge computes from the secret it was given.
      assert.equal(sent[0]!.action.ingress_token, bindToken(exit.tunnel_bind_secret, created.id, 'ingress'));
      assert.equal(sent[0]!.action.egress_token, bindToken(entry.tunnel_bind_secret, created.id, 'egress'));

      const row = await database.db.selectFrom('tunnels').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes(entry.tunnel_bind_secret), 'secrets are sealed at rest');
      assert.equal(row.tunnel_psk_enc, null);
      assert.deepEqual(
        (await events('manager.tunnel.created')).map((t) => t.id),
        [created.id],
      );
      assert.ok((await events('manager.tunnel.status_changed')).some((t) => t.id === created.id && t.status === 'active' && t.previous_status === 'pending'));
      const { warnings: _, ...tunnel } = created;
      assert.deepEqual(await service.get(operator('operator'), created.id), tunnel);
    });

    it('a failed leg leaves the tunnel pending with a warning; the node connecting later makes it active', async () => {
      nodes.offline.add(edgeB);
      const created = await service.create(MASTER, relayInput({ name: 'late exit' }));
      assert.equal(created.status, 'pending');
      assert.equal(created.egress_push_status, 'failed');
      assert.equal(created.ingress_push_status, 'pushed');
      assert.deepEqual(created.warnings, [`egress node ${edgeB}: Node ${edgeB} is not connected`]);
      assert.equal(created.egress_push_error, `Node ${edgeB} is not connected`);

      nodes.take();
      await service.retryPending();
      assert.deepEqual(
        nodes.take().map((s) => s.nodeId),
        [edgeB],
        'only the leg not pushed is retried',
      );

      nodes.offline.delete(edgeB);
      nodes.refusing.set(edgeB, 'port 5000 in use');
      await service.nodeConnected(edgeB);
      assert.equal((await service.get(MASTER, created.id)).egress_push_error, 'port 5000 in use');

      nodes.refusing.delete(edgeB);
      await service.nodeConnected(edgeB);
      const active = await service.get(MASTER, created.id);
      assert.equal(active.status, 'active');
      assert.equal(active.egress_push_error, null);

      await service.nodeDisconnected(edgeB);
      const dropped = await service.get(MASTER, created.id);
      assert.equal(dropped.status, 'pending');
      assert.equal(dropped.egress_push_status, 'pending');
      assert.equal(dropped.ingress_push_status, 'pushed');
    });

    it('direct mode: one PSK for both edges, no relay leg', async () => {
      nodes.take();
      const created = await service.create(MASTER, {
        ...relayInput({ mode: 'direct', relay_addr: undefined, relay_node_id: undefined }),
        egress_peer_addr: '203.0.113.20:7000',
      });
      assert.equal(created.status, 'active');
      assert.equal(created.relay_push_status, null);
      const [entry, exit] = nodes.take().map((s) => s.action.tunnel);
      assert.ok(isHex64(entry.tunnel_psk));
      assert.equal(entry.tunnel_psk, exit.tunnel_psk);
      assert.equal(entry.peer_addr, '203.0.113.20:7000');
      assert.equal(exit.direct_listen_addr, '0.0.0.0:7000');
    });

    it('refuses bad input field by field and stores nothing', async () => {
      const before = (await service.list(MASTER)).tunnels.length;
      const refused = async (input: Record<string, unknown>, field: string, message: RegExp, principal: Principal = MASTER) => {
        await assert.rejects(service.create(principal, relayInput(input) as never), (error: AppError) => {
          assert.equal(error.code, 'validation_failed');
          assert.match(String((error.details as Record<string, string[]>)[field]), message, field);
          return true;
        });
      };
      await refused({ relay_node_id: null }, 'relay_node_id', /required in relay mode/);
      await refused({ relay_addr: null }, 'relay_addr', /required in relay mode/);
      await refused({ egress_peer_addr: '1.2.3.4:5' }, 'egress_peer_addr', /only for direct mode/);
      await refused({ mode: 'direct' }, 'egress_peer_addr', /required in direct mode/);
      await refused({ egress_forward_addr: 'localhost:5000' }, 'egress_forward_addr', /ip:port/);
      await refused({ relay_addr: '1.2.3.4' }, 'relay_addr', /ip:port/);
      await refused({ egress_node_id: edgeA }, 'egress_node_id', /another node/);
      await refused({ ingress_node_id: agent }, 'ingress_node_id', /not a known edge node/);
      await refused({ egress_node_id: uuidv7() }, 'egress_node_id', /not a known edge node/);
      await refused({ relay_node_id: edgeC }, 'relay_node_id', /not a known relay node/);
      // A node outside the caller's scope is refused as unknown, exactly like a missing one.
      await refused({}, 'egress_node_id', /not a known edge node/, operator('admin', [edgeA, relay]));
      assert.equal((await service.list(MASTER)).tunnels.length, before);
    });

    it('roles: operators read, admins write; a restricted caller sees only tunnels with every leg in scope', async () => {
      await assert.rejects(service.list(operator('viewer')), { code: 'forbidden' });
      await assert.rejects(service.create(operator('operator'), relayInput()), { code: 'forbidden' });
      const mine = await service.create(
        MASTER,
        relayInput({ mode: 'direct', relay_addr: null, relay_node_id: null, egress_peer_addr: '10.0.0.2:7000', egress_node_id: edgeC, name: 'A to C' }),
      );
      const scoped = operator('operator', [edgeA, edgeC]);
      assert.deepEqual(
        (await service.list(scoped)).tunnels.map((t) => t.id),
        [mine.id],
      );
      const all = (await service.list(MASTER)).tunnels;
      const hidden = all.find((t) => t.relay_node_id !== null)!;
      await assert.rejects(service.get(scoped, hidden.id), { code: 'not_found' });
      await assert.rejects(service.delete(operator('admin', [edgeA, edgeC]), hidden.id), { code: 'not_found' });
      assert.ok((await service.list(MASTER, edgeC)).tunnels.every((t) => t.ingress_node_id === edgeC || t.egress_node_id === edgeC));
      await assert.rejects(service.list(operator('operator', [edgeA]), edgeC), { code: 'not_found' });
    });

    it('update re-pushes what the legs carry; disabling takes it off every node; delete warns about unreachable nodes', async () => {
      const created = await service.create(MASTER, relayInput({ name: 'to update' }));
      nodes.take();
      const renamed = await service.update(MASTER, created.id, { name: 'renamed', associated_flow_ids: null });
      assert.equal(renamed.name, 'renamed');
      assert.equal(renamed.status, 'active');
      assert.deepEqual(
        nodes.take().map((s) => [s.nodeId, s.action.type, s.action.tunnel?.name]),
        [
          [edgeA, 'delete_tunnel', undefined],
          [edgeB, 'delete_tunnel', undefined],
          [relay, 'authorize_tunnel', undefined],
          [edgeA, 'create_tunnel', 'renamed'],
          [edgeB, 'create_tunnel', 'renamed'],
        ],
      );
      await service.update(MASTER, created.id, { associated_flow_ids: ['f9'] });
      assert.deepEqual(nodes.take(), [], 'a change no leg carries sends nothing');

      const disabled = await service.update(MASTER, created.id, { status: 'disabled' });
      assert.equal(disabled.status, 'disabled');
      assert.deepEqual(
        nodes.take().map((s) => [s.nodeId, s.action.type]),
        [
          [edgeA, 'delete_tunnel'],
          [edgeB, 'delete_tunnel'],
          [relay, 'revoke_tunnel'],
        ],
      );
      await service.nodeConnected(edgeA);
      assert.deepEqual(
        nodes.take().filter((s) => s.action.tunnel?.id === created.id || s.action.tunnel_id === created.id),
        [],
        'a disabled tunnel is not pushed',
      );
      const enabled = await service.update(MASTER, created.id, { status: 'pending' });
      assert.equal(enabled.status, 'active');
      nodes.take();

      nodes.offline.add(relay);
      const deleted = await service.delete(MASTER, created.id);
      nodes.offline.delete(relay);
      assert.deepEqual(deleted, { deleted: true, warnings: [`relay node ${relay}: Node ${relay} is not connected`] });
      assert.deepEqual(
        nodes.take().map((s) => [s.nodeId, s.action.type, s.action.tunnel_id]),
        [
          [edgeA, 'delete_tunnel', created.id],
          [edgeB, 'delete_tunnel', created.id],
          [relay, 'revoke_tunnel', created.id],
        ],
      );
      await assert.rejects(service.get(MASTER, created.id), { code: 'not_found' });
      assert.deepEqual(
        (await events('manager.tunnel.deleted')).map((t) => t.id),
        [created.id],
      );
    });
  });
}
