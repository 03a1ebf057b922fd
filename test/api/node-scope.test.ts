/**
 * An operator restricted to some nodes (`allowed_node_ids`), signed in with a session or holding an
 * API token, over real HTTP: every node-owned list holds only their nodes, every route of another
 * node answers 404, a command to all nodes reaches only theirs, and a refused write stores nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { signedIn, tokenFor } from '../helpers/operators.ts';
import { until } from '../helpers/processes.ts';
import { type ApiClient, startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';
import { createNode, createProtocol, createSubscription, createUser } from '../helpers/vpn-admin.ts';

const idsOf = (res: { status: number; text: string; body: any }) => {
  assert.equal(res.status, 200, res.text);
  return (res.body.data as Array<{ id: string | number }>).map((item) => item.id);
};

for (const engine of testEngines()) {
  describe(`node scope over HTTP [${engine}]`, () => {
    let server: TestServer;
    let mine: RegisteredAgent;
    let theirs: RegisteredAgent;
    let coreMine: string;
    let coreTheirs: string;
    /** A signed-in admin (cookie + CSRF) restricted to one edge node and one Core node. */
    let admin: ApiClient;
    /** An operator-role API token of that admin: the same scope, through a bearer token. */
    let bearer: ApiClient;

    /** A command by `client`, once its background fan-out has written its executions (seen by the master key). */
    const runCommand = async (client: ApiClient, targeting: Record<string, unknown>) => {
      const res = await client.post('/api/v1/commands', { command_text: 'uptime', targeting });
      assert.equal(res.status, 201, res.text);
      const id = res.body.data.id as string;
      const executions = await until(async () => {
        const page = await server.api.get(`/api/v1/command_executions?command_id=${id}&page_size=100`);
        return page.body.data.length > 0 && (page.body.data as Array<{ id: string; node_id: string }>);
      }, 'the command fan-out');
      return { id, executions };
    };

    const completedSelfUpdate = async (client: ApiClient) => {
      const res = await client.post('/api/v1/self_update_requests', { targeting: { type: 'all' } });
      assert.equal(res.status, 201, res.text);
      const id = res.body.data.id as string;
      await until(async () => (await server.api.get(`/api/v1/self_update_requests/${id}`)).body.data.status === 'completed', 'the self-update');
      return id;
    };

    before(async () => {
      server = await startServer(engine);
      const cluster = await createCluster(server.api);
      mine = await registerAgent(server.api, { cluster, self_update_enabled: true });
      theirs = await registerAgent(server.api, { cluster, self_update_enabled: true });
      coreMine = (await createNode(server.api)).id;
      coreTheirs = (await createNode(server.api)).id;
      admin = await signedIn(server.api, { role: 'admin', allowed_node_ids: [mine.nodeId, coreMine] });
      bearer = (await tokenFor(admin, { role: 'operator' })).api;
    });
    after(() => server?.stop());

    it('lists only their nodes in the edge list, the fleet view and the Core nodes, with counts to match', async () => {
      for (const client of [admin, bearer]) {
        const edge = await client.get('/api/v1/nodes');
        assert.deepEqual(idsOf(edge), [mine.nodeId]);
        assert.equal(edge.body.meta.pagination.total_count, 1);
        assert.deepEqual(idsOf(await client.get('/api/v1/fleet')).sort(), [mine.nodeId, coreMine].sort());
        assert.deepEqual(idsOf(await client.get('/api/v1/vpn/nodes')), [coreMine]);
      }
      assert.equal(idsOf(await server.api.get('/api/v1/fleet')).length, 4, 'the master key sees every node');
    });

    it("lists only their node protocols, executions and self-update requests; the other node's are 404", async () => {
      const own = await createProtocol(server.api, coreMine, { protocol: 'vless', port: 443 });
      const other = await createProtocol(server.api, coreTheirs, { protocol: 'vless', port: 443 });
      const everywhere = await runCommand(server.api, { type: 'all' });
      const foreign = everywhere.executions.find((e) => e.node_id === theirs.nodeId)!;
      const ownUpdate = await completedSelfUpdate(admin);
      const masterUpdate = await completedSelfUpdate(server.api);

      for (const client of [admin, bearer]) {
        assert.deepEqual(idsOf(await client.get('/api/v1/vpn/node_protocols')), [own.id]);
        const executions = await client.get(`/api/v1/command_executions?command_id=${everywhere.id}`);
        assert.deepEqual(
          (executions.body.data as Array<{ node_id: string }>).map((e) => e.node_id),
          [mine.nodeId],
        );
        assert.deepEqual(idsOf(await client.get('/api/v1/self_update_requests')), [ownUpdate]);

        for (const path of [
          `/api/v1/nodes/${theirs.nodeId}`,
          `/api/v1/fleet/${theirs.nodeId}`,
          `/api/v1/nodes/${theirs.nodeId}/metrics`,
          `/api/v1/vpn/nodes/${coreTheirs}`,
          `/api/v1/vpn/nodes/${coreTheirs}/config`,
          `/api/v1/vpn/node_protocols/${other.id}`,
          `/api/v1/command_executions/${foreign.id}`,
          `/api/v1/self_update_requests/${masterUpdate}`,
        ]) {
          const res = await client.get(path);
          assert.equal(res.status, 404, `${path}: ${res.text}`);
        }
      }
    });

    it('fans a command to all nodes out only to their node', async () => {
      for (const client of [admin, bearer]) {
        const { executions } = await runCommand(client, { type: 'all' });
        assert.deepEqual(
          executions.map((e) => e.node_id),
          [mine.nodeId],
        );
      }
    });

    it("shows a subscription's grants only on their nodes", async () => {
      const own = await createProtocol(server.api, coreMine, { protocol: 'trojan', port: 2443 });
      const other = await createProtocol(server.api, coreTheirs, { protocol: 'trojan', port: 2443 });
      const user = await createUser(server.api);
      const subscription = await createSubscription(server.api, user.id, { node_protocol_ids: [own.id, other.id] });
      const view = await admin.get(`/api/v1/vpn/subscriptions/${subscription.id}`);
      assert.deepEqual(view.body.data.node_protocol_ids, [own.id]);
      assert.deepEqual(idsOf(await admin.get(`/api/v1/vpn/subscriptions/${subscription.id}/protocols`)), [own.id]);
      assert.deepEqual(idsOf(await admin.get(`/api/v1/vpn/subscriptions?node_id=${coreTheirs}`)), []);
    });

    it("refuses every write to the other nodes' things and stores nothing", async () => {
      const other = await createProtocol(server.api, coreTheirs, { protocol: 'vmess', port: 9443 });
      const user = await createUser(server.api);
      const subscription = await createSubscription(server.api, user.id, { node_protocol_ids: [other.id] });
      const execution = (await runCommand(server.api, { type: 'nodes', node_ids: [theirs.nodeId] })).executions[0]!;
      const masterUpdate = await completedSelfUpdate(server.api);

      const before = await databaseSnapshot(server);
      const refusals: Array<[string, () => Promise<{ status: number; text: string }>, number]> = [
        ['rename', () => admin.patch(`/api/v1/fleet/${theirs.nodeId}`, { name: 'taken' }), 404],
        ['delete node', () => admin.delete(`/api/v1/nodes/${theirs.nodeId}`), 404],
        ['delete Core node', () => admin.delete(`/api/v1/vpn/nodes/${coreTheirs}`), 404],
        ['reset code', () => admin.post(`/api/v1/vpn/nodes/${coreTheirs}/reset_code`, {}), 404],
        ['ssh username', () => bearer.post(`/api/v1/nodes/${theirs.nodeId}/ssh_usernames`, { username: 'mallory' }), 404],
        ['cancel', () => bearer.post(`/api/v1/command_executions/${execution.id}/cancel`, {}), 404],
        ['delete self-update', () => bearer.delete(`/api/v1/self_update_requests/${masterUpdate}`), 404],
        ['update protocol', () => admin.patch(`/api/v1/vpn/node_protocols/${other.id}`, { remark: 'mine' }), 404],
        ['delete protocol', () => admin.delete(`/api/v1/vpn/node_protocols/${other.id}`), 404],
        ['add protocol', () => admin.post('/api/v1/vpn/node_protocols', { node_id: coreTheirs, protocol: 'trojan', port: 7443 }), 422],
        ['add outbound', () => admin.post('/api/v1/vpn/node_outbounds', { node_id: coreTheirs, tag: 'warp', protocol: 'freedom' }), 422],
        ['grant', () => admin.post(`/api/v1/vpn/subscriptions/${subscription.id}/protocols`, { node_protocol_ids: [other.id] }), 422],
        ['take away', () => admin.delete(`/api/v1/vpn/subscriptions/${subscription.id}/protocols/${other.id}`), 404],
      ];
      for (const [what, request, status] of refusals) {
        const res = await request();
        assert.equal(res.status, status, `${what}: ${res.text}`);
      }
      assert.equal(await databaseSnapshot(server), before);

      // Replacing the grants replaces only those the caller can see: the other node's grant stays.
      const replaced = await admin.put(`/api/v1/vpn/subscriptions/${subscription.id}/protocols`, { node_protocol_ids: [] });
      assert.equal(replaced.status, 200, replaced.text);
      assert.deepEqual((await server.api.get(`/api/v1/vpn/subscriptions/${subscription.id}`)).body.data.node_protocol_ids, [other.id]);
    });
  });
}
