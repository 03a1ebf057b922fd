/**
 * An operator restricted to some nodes (`allowed_node_ids`) meets the same rule in every service:
 * lists hold only their nodes' rows, a get outside the scope is 404, a write outside it is 404 and
 * stores nothing, and a command's fan-out never reaches a node outside its creator's scope. The
 * data is made through the API with the master key; the services are then driven with a
 * hand-built principal (test/api/node-scope.test.ts walks the same rules over HTTP as operators).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCluster } from '../../../test/helpers/factories.ts';
import { registerAgent, type RegisteredAgent } from '../../../test/helpers/agents.ts';
import { startServer, testEngines, type TestServer } from '../../../test/helpers/server.ts';
import { databaseSnapshot } from '../../../test/helpers/snapshot.ts';
import { createNode, createProtocol, createSubscription, createUser } from '../../../test/helpers/vpn-admin.ts';
import { AppError } from '../errors.ts';
import type { OperatorPrincipal, Principal } from '../principal.ts';

const MASTER: Principal = { type: 'api-key', key: 'master' };

function operator(overrides: Partial<OperatorPrincipal> = {}): OperatorPrincipal {
  return {
    type: 'operator',
    id: '00000000-0000-4000-8000-000000000001',
    username: 'ops',
    role: 'operator',
    allowedNodeIds: [],
    credential: { kind: 'token', tokenId: '00000000-0000-4000-8000-000000000002' },
    ...overrides,
  };
}

async function assertNotFound(promise: Promise<unknown>) {
  await assert.rejects(promise, (error: unknown) => error instanceof AppError && error.code === 'not_found');
}

/** A node outside the scope, named in a body, is refused as a node that does not exist is. */
async function assertUnknown(promise: Promise<unknown>, field: string) {
  await assert.rejects(promise, (error: unknown) => error instanceof AppError && error.code === 'validation_failed' && field in (error.details ?? {}));
}

const ids = (page: { items: Array<{ id: string }> }) => page.items.map((item) => item.id).sort();

for (const engine of testEngines()) {
  describe(`node scope [${engine}]`, () => {
    let server: TestServer;
    let mine: RegisteredAgent;
    let theirs: RegisteredAgent;
    let restricted: OperatorPrincipal;
    let clusterName: string;

    before(async () => {
      server = await startServer(engine);
      const cluster = await createCluster(server.api);
      clusterName = cluster.name;
      mine = await registerAgent(server.api, { cluster, self_update_enabled: true });
      theirs = await registerAgent(server.api, { cluster, self_update_enabled: true });
      restricted = operator({ allowedNodeIds: [mine.nodeId] });
    });
    after(() => server?.stop());

    it('lists only the nodes in scope, in the edge list and the fleet view, with counts to match', async () => {
      const { nodes, fleet } = server.ctx;
      const edge = await nodes.list(restricted, {});
      assert.deepEqual(ids(edge), [mine.nodeId]);
      assert.equal(edge.pagination.total_count, 1);
      assert.deepEqual(ids(await fleet.list(restricted, {})), [mine.nodeId]);
      assert.deepEqual(ids(await nodes.list(operator({ allowedNodeIds: [] }), {})), []);
      assert.deepEqual(ids(await nodes.list(operator({ allowedNodeIds: null }), {})), [mine.nodeId, theirs.nodeId].sort());
    });

    it('answers 404 for a node outside the scope, on gets and on writes, and stores nothing', async () => {
      const { nodes, fleet, nodeMetrics } = server.ctx;
      assert.equal((await nodes.get(restricted, mine.nodeId)).id, mine.nodeId);
      await assertNotFound(nodes.get(restricted, theirs.nodeId));
      await assertNotFound(fleet.get(restricted, theirs.nodeId));
      await assertNotFound(nodeMetrics.unified(restricted, theirs.nodeId));

      const elsewhere = await createCluster(server.api);
      const before = await databaseSnapshot(server);
      await assertNotFound(fleet.update(restricted, theirs.nodeId, { name: 'renamed' }));
      await assertNotFound(fleet.delete(restricted, theirs.nodeId));
      await assertNotFound(nodes.delete(restricted, theirs.nodeId));
      await assertNotFound(nodes.changeCluster(restricted, theirs.nodeId, { cluster_name: elsewhere.name }));
      assert.equal(await databaseSnapshot(server), before);
      assert.equal((await nodes.get(MASTER, theirs.nodeId)).id, theirs.nodeId);
    });

    it('keeps SSH usernames and keys of other nodes out of sight and out of reach', async () => {
      const { ssh } = server.ctx;
      const own = await ssh.createUsername(MASTER, mine.nodeId, { username: 'alice' });
      const other = await ssh.createUsername(MASTER, theirs.nodeId, { username: 'bob' });
      assert.deepEqual(ids(await ssh.listUsernames(restricted, {})), [own.id]);
      await assertNotFound(ssh.getUsername(restricted, other.id));

      const before = await databaseSnapshot(server);
      await assertNotFound(ssh.createUsername(restricted, theirs.nodeId, { username: 'mallory' }));
      await assertNotFound(ssh.deleteUsername(restricted, other.id));
      await assertNotFound(
        ssh.createKey(restricted, other.id, { key_name: 'k', public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' }),
      );
      assert.equal(await databaseSnapshot(server), before);
      assert.equal((await ssh.getUsername(MASTER, other.id)).id, other.id);
    });

    it("fans a command out only to the creator's nodes, and shows a restricted caller only those executions", async () => {
      const { commands } = server.ctx;
      const command = await commands.create(restricted, { command_text: 'uptime', targeting: { type: 'all' } });
      await server.ctx.jobs.drain();
      const executions = await commands.executions.list(MASTER, { command_id: command.id, page_size: 100 });
      assert.deepEqual(
        executions.items.map((e) => e.node_id),
        [mine.nodeId],
      );

      const wide = await commands.create(MASTER, { command_text: 'hostname', targeting: { type: 'nodes', node_ids: [mine.nodeId, theirs.nodeId] } });
      const elsewhere = await commands.create(MASTER, { command_text: 'date', targeting: { type: 'nodes', node_ids: [theirs.nodeId] } });
      await server.ctx.jobs.drain();
      const visible = ids(await commands.list(restricted, { page_size: 100 }));
      assert.ok(visible.includes(command.id) && visible.includes(wide.id), 'own and shared commands are listed');
      assert.ok(!visible.includes(elsewhere.id), 'a command only on other nodes is not');
      await assertNotFound(commands.get(restricted, elsewhere.id));

      const wideExecutions = (await commands.executions.list(MASTER, { command_id: wide.id })).items;
      const foreign = wideExecutions.find((e) => e.node_id === theirs.nodeId)!;
      assert.deepEqual(
        (await commands.executions.list(restricted, { command_id: wide.id })).items.map((e) => e.node_id),
        [mine.nodeId],
      );
      await assertNotFound(commands.executions.get(restricted, foreign.id));
      const before = await databaseSnapshot(server);
      await assertNotFound(commands.executions.cancel(restricted, foreign.id));
      await assertNotFound(commands.executions.delete(restricted, foreign.id));
      await assert.rejects(commands.delete(restricted, wide.id), (error: unknown) => error instanceof AppError && error.code === 'forbidden');
      assert.equal(await databaseSnapshot(server), before);
      assert.equal((await commands.executions.get(MASTER, foreign.id)).status, 'pending');
    });

    it('never triggers a self-update on a node outside the scope', async () => {
      const { selfUpdates } = server.ctx;
      const targeting = { type: 'nodes' as const, node_ids: [theirs.nodeId] };
      const outside = await selfUpdates.create(restricted, { targeting });
      await server.ctx.jobs.drain();
      assert.equal((await selfUpdates.get(MASTER, outside.id)).summary?.total, 0);
      const unrestricted = await selfUpdates.create(MASTER, { targeting });
      await server.ctx.jobs.drain();
      assert.equal((await selfUpdates.get(MASTER, unrestricted.id)).summary?.total, 1);
    });

    it('shows a restricted caller only the self-update requests made under exactly their scope', async () => {
      const { selfUpdates } = server.ctx;
      const targeting = { type: 'all' as const };
      const own = await selfUpdates.create(restricted, { targeting });
      const wider = await selfUpdates.create(operator({ allowedNodeIds: [mine.nodeId, theirs.nodeId] }), { targeting });
      const everywhere = await selfUpdates.create(MASTER, { targeting });
      await server.ctx.jobs.drain();

      const visible = ids(await selfUpdates.list(restricted, { page_size: 100 }));
      assert.ok(visible.includes(own.id));
      assert.ok(!visible.includes(wider.id) && !visible.includes(everywhere.id));
      assert.equal((await selfUpdates.get(restricted, own.id)).id, own.id);
      await assertNotFound(selfUpdates.get(restricted, everywhere.id));
      await assertNotFound(selfUpdates.get(restricted, wider.id));

      const before = await databaseSnapshot(server);
      await assertNotFound(selfUpdates.delete(restricted, everywhere.id));
      assert.equal(await databaseSnapshot(server), before);
      await selfUpdates.delete(restricted, own.id);
      await assertNotFound(selfUpdates.get(MASTER, own.id));
    });

    describe('VPN objects of Core nodes', () => {
      let coreMine: string;
      let coreTheirs: string;
      let vpnRestricted: OperatorPrincipal;

      before(async () => {
        coreMine = (await createNode(server.api)).id;
        coreTheirs = (await createNode(server.api)).id;
        vpnRestricted = operator({ role: 'admin', allowedNodeIds: [coreMine] });
      });

      it('narrows node protocols to the nodes in scope and refuses the others as missing', async () => {
        const { protocols } = server.ctx.vpn;
        const own = await createProtocol(server.api, coreMine, { protocol: 'vless', port: 443 });
        const other = await createProtocol(server.api, coreTheirs, { protocol: 'vless', port: 443 });
        assert.deepEqual(
          (await protocols.list(vpnRestricted, { page_size: 100 })).items.map((p) => p.id),
          [own.id],
        );
        assert.equal((await protocols.get(vpnRestricted, own.id)).id, own.id);
        await assertNotFound(protocols.get(vpnRestricted, other.id));

        const before = await databaseSnapshot(server);
        await assertNotFound(protocols.update(vpnRestricted, other.id, { remark: 'mine now' }));
        await assertNotFound(protocols.delete(vpnRestricted, other.id));
        await assertUnknown(protocols.create(vpnRestricted, { node_id: coreTheirs, protocol: 'trojan', port: 8443 }), 'node_id');
        assert.equal(await databaseSnapshot(server), before);
        assert.equal((await protocols.update(vpnRestricted, own.id, { remark: 'ours' })).remark, 'ours');
      });

      it('narrows node outbounds the same way', async () => {
        const { outbounds } = server.ctx.vpn;
        const settings = { servers: [{ address: '127.0.0.1', port: 40000 }] };
        const own = await outbounds.create(MASTER, { node_id: coreMine, tag: 'warp', protocol: 'socks', settings });
        const other = await outbounds.create(MASTER, { node_id: coreTheirs, tag: 'warp', protocol: 'socks', settings });
        assert.deepEqual(
          (await outbounds.list(vpnRestricted, { page_size: 100 })).items.map((o) => o.id),
          [own.id],
        );
        await assertNotFound(outbounds.get(vpnRestricted, other.id));

        const before = await databaseSnapshot(server);
        await assertNotFound(outbounds.update(vpnRestricted, other.id, { tag: 'renamed' }));
        await assertNotFound(outbounds.delete(vpnRestricted, other.id));
        await assertUnknown(outbounds.create(vpnRestricted, { node_id: coreTheirs, tag: 'other', protocol: 'freedom' }), 'node_id');
        assert.equal(await databaseSnapshot(server), before);
        await outbounds.delete(vpnRestricted, own.id);
      });

      it("shows, grants and takes away a subscription's protocols only within the scope; grants elsewhere survive", async () => {
        const { subscriptions, protocols } = server.ctx.vpn;
        const own = await createProtocol(server.api, coreMine, { protocol: 'trojan', port: 2443 });
        const other = await createProtocol(server.api, coreTheirs, { protocol: 'trojan', port: 2443 });
        const user = await createUser(server.api);
        const subscription = await createSubscription(server.api, user.id, { node_protocol_ids: [own.id, other.id] });

        assert.deepEqual((await subscriptions.get(vpnRestricted, subscription.id)).node_protocol_ids, [own.id]);
        assert.deepEqual(
          (await protocols.list(vpnRestricted, { subscription_id: subscription.id })).items.map((p) => p.id),
          [own.id],
        );
        assert.deepEqual((await subscriptions.list(vpnRestricted, { node_id: coreTheirs })).items, []);

        const before = await databaseSnapshot(server);
        await assertNotFound(subscriptions.removeGrant(vpnRestricted, subscription.id, other.id));
        await assertUnknown(subscriptions.addGrants(vpnRestricted, subscription.id, [other.id]), 'node_protocol_ids');
        await assertUnknown(subscriptions.setGrants(vpnRestricted, subscription.id, [own.id, other.id]), 'node_protocol_ids');
        await assertUnknown(subscriptions.create(vpnRestricted, { user_id: user.id, node_protocol_ids: [other.id] }), 'node_protocol_ids');
        assert.equal(await databaseSnapshot(server), before);

        assert.deepEqual((await subscriptions.setGrants(vpnRestricted, subscription.id, [])).node_protocol_ids, []);
        assert.deepEqual((await subscriptions.get(MASTER, subscription.id)).node_protocol_ids, [other.id]);
      });
    });

    it("lists only the caller's nodes in a cluster and in the admin instances' cluster maps", async () => {
      const { clusters, instances } = server.ctx;
      const view = await clusters.get(restricted, clusterName);
      assert.deepEqual(
        view.nodes.map((n) => n.id),
        [mine.nodeId],
      );
      assert.equal(view.node_count, 2, 'capacity counts every node');
      const names = Object.values(await instances.edgeClusters(restricted)).flatMap((byCluster) => Object.values(byCluster).flat());
      assert.deepEqual(names, [`node-${mine.nodeId}`]);
    });
  });
}
