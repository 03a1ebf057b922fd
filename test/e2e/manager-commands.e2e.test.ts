/**
 * Commands to bilbycast nodes over real wss:// (manager spec §2, §3, §5.3): the edge command set with
 * its acks, config reads (cache) and writes (validation), flows, the §2.1 outcome table (timeout,
 * offline, disconnect mid-wait, out-of-order acks), roles and node scope, relay tunnels with bind
 * tokens, and secret rotation. The command timeout is shortened so that silence fails fast.
 */
import { eventually } from '../helpers/eventually.ts';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { bilbycastEdge, type BilbycastEdge } from '../helpers/bilbycast-edge.ts';
import { bilbycastRelay, type BilbycastRelay } from '../helpers/bilbycast-relay.ts';
import type { BilbycastNode, ManagerBlock } from '../helpers/bilbycast-node.ts';
import { createOperator, loginAs } from '../helpers/operators.ts';

const TIMEOUT_MS = 1500;

const CONFIG = {
  version: 2,
  server: { listen_addr: '0.0.0.0', listen_port: 8080 },
  inputs: [{ id: 'in1', name: 'SRT in', type: 'srt', mode: 'listener', local_addr: '0.0.0.0:9000' }],
  outputs: [{ type: 'udp', id: 'out1', name: 'UDP out', dest_addr: '239.1.1.1:5000' }],
  flows: [{ id: 'f1', name: 'Main', input_ids: ['in1'], output_ids: ['out1'] }],
};

const flowOf = (node: BilbycastEdge, id: string) => node.state.config.flows!.find((flow) => flow.id === id)!;

const bindToken = (secret: string, tunnelId: string, direction: string) =>
  createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${tunnelId}:${direction}`).digest('hex');

for (const engine of testEngines()) {
  describe(`manager commands over wss [${engine}]`, () => {
    let server: TestServer;
    const running: Array<{ stop(): Promise<void> }> = [];
    const block = (extra: Partial<ManagerBlock> = {}): ManagerBlock => ({
      urls: [`${server.managerUrl.replace('https', 'wss')}/ws/node`],
      ca: server.managerCert,
      ...extra,
    });
    const createNode = async (body: Record<string, unknown> = {}) => {
      const res = await server.managerApi.post('/api/v1/nodes', { name: `node-${Math.random().toString(36).slice(2, 8)}`, ...body });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const online = async (id: string) => eventually(async () => (await server.managerApi.get(`/api/v1/nodes/${id}`)).body.status === 'online');
    const edge = async (): Promise<{ id: string; node: BilbycastEdge }> => {
      const created = await createNode();
      const node = bilbycastEdge(block({ registration_token: created.registration_token }), { reconnectDelayMs: 100 });
      running.push(node);
      assert.deepEqual(await node.run(), { type: 'register_ack' });
      await online(created.id);
      return { id: created.id, node };
    };
    const relay = async (): Promise<{ id: string; node: BilbycastRelay }> => {
      const created = await createNode({ device_type: 'relay' });
      const node = bilbycastRelay(block({ registration_token: created.registration_token }));
      running.push(node);
      assert.deepEqual(await node.connect(), { type: 'register_ack' });
      await online(created.id);
      return { id: created.id, node };
    };
    const command = (id: string, action: Record<string, unknown>) => server.managerApi.post(`/api/v1/nodes/${id}/command`, { action });
    const commandsOf = (node: BilbycastNode, type: string) => node.received.filter((f) => f.type === 'command' && f.payload.action.type === type);
    const asOperator = async (role: string, allowed?: string[]) => {
      const operator = await createOperator(server.api, { role, ...(allowed && { allowed_node_ids: allowed }) });
      const session = await loginAs(server.api, operator.username);
      return server.managerApi.withToken(null).withHeaders({ cookie: `session=${session.session}; csrf_token=${session.csrf}`, 'x-csrf-token': session.csrf });
    };

    before(async () => {
      server = await startServer(engine, { MANAGER_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS) });
    });
    after(async () => {
      await Promise.all(running.map((node) => node.stop()));
      await server?.stop();
    });

    it('carries out every edge command and answers with its ack, node refusals passing error_code through', async () => {
      const { id, node } = await edge();
      const put = await server.managerApi.put(`/api/v1/nodes/${id}/config`, CONFIG);
      assert.equal(put.status, 200, put.text);
      assert.equal(put.body.success, true);
      assert.deepEqual(node.state.config.flows, CONFIG.flows);

      const created = await server.managerApi.post(`/api/v1/nodes/${id}/flows`, { id: 'f2', name: 'Backup', input_ids: ['in1'], output_ids: [] });
      assert.equal(created.status, 200, created.text);
      assert.match(created.body.command_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const duplicate = await command(id, { type: 'create_flow', flow: { id: 'f2', name: 'Again' } });
      assert.equal(duplicate.status, 422);
      assert.deepEqual(duplicate.body, { error: "Flow 'f2' already exists", error_code: 'validation_error' });

      assert.equal((await command(id, { type: 'update_flow', flow: { id: 'f2', name: 'Renamed', input_ids: ['in1'] } })).status, 200);
      assert.equal((await command(id, { type: 'stop_flow', flow_id: 'f1' })).status, 200);
      assert.equal(flowOf(node, 'f1').enabled, false);
      assert.equal((await command(id, { type: 'start_flow', flow_id: 'f1' })).status, 200);
      assert.equal((await command(id, { type: 'restart_flow', flow_id: 'f1' })).status, 200);
      assert.equal(flowOf(node, 'f1').enabled, true);
      const output = { type: 'udp', id: 'out2', name: 'Second', dest_addr: '239.1.1.2:5000' };
      assert.equal((await command(id, { type: 'add_output', flow_id: 'f2', output })).status, 200);
      assert.deepEqual(flowOf(node, 'f2').output_ids, ['out2']);
      assert.equal((await command(id, { type: 'remove_output', flow_id: 'f2', output_id: 'out2' })).status, 200);
      assert.equal(
        node.state.config.outputs!.some((o) => o.id === 'out2'),
        false,
      );

      const deleted = await server.managerApi.delete(`/api/v1/nodes/${id}/flows/f2`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.deepEqual(
        node.state.config.flows!.map((f) => f.name),
        ['Main'],
      );
      const unknownFlow = await server.managerApi.delete(`/api/v1/nodes/${id}/flows/nope`);
      assert.deepEqual([unknownFlow.status, unknownFlow.body], [422, { error: "Flow 'nope' not found", error_code: 'unknown_flow' }]);
      const missing = await command(id, { type: 'delete_flow' });
      assert.deepEqual([missing.status, missing.body], [422, { error: 'Missing field: flow_id', error_code: 'missing_field' }]);
      const unknown = await command(id, { type: 'self_destruct' });
      assert.deepEqual([unknown.status, unknown.body], [422, { error: 'Unknown command: self_destruct', error_code: 'unknown_action' }]);
    });

    it('reads the config from the node once, serves it from the cache until an ack, and lists the flow endpoints', async () => {
      const { id, node } = await edge();
      assert.equal((await server.managerApi.put(`/api/v1/nodes/${id}/config`, CONFIG)).status, 200);
      const first = await server.managerApi.get(`/api/v1/nodes/${id}/config`);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.body.flows, CONFIG.flows);
      assert.equal(commandsOf(node, 'get_config').length, 1);
      assert.deepEqual((await server.managerApi.get(`/api/v1/nodes/${id}/config`)).body, first.body);
      assert.equal(commandsOf(node, 'get_config').length, 1, 'the second read came from the cache');

      const endpoints = await server.managerApi.get('/api/v1/nodes/endpoints');
      assert.equal(endpoints.status, 200, endpoints.text);
      const mine = endpoints.body.find((entry: any) => entry.node_id === id);
      assert.deepEqual(
        mine.endpoints.map((e: any) => [e.side, e.address]),
        [
          ['input', '0.0.0.0:9000'],
          ['output', '239.1.1.1:5000'],
        ],
      );

      assert.equal((await command(id, { type: 'stop_flow', flow_id: 'f1' })).status, 200);
      const fresh = await server.managerApi.get(`/api/v1/nodes/${id}/config`);
      assert.equal(fresh.body.flows[0].enabled, false);
      assert.equal(commandsOf(node, 'get_config').length, 2, 'the ack dropped the cached config');

      const viaCommand = await command(id, { type: 'get_config' });
      assert.equal(viaCommand.status, 200, viaCommand.text);
      assert.equal(viaCommand.body.success, true);
      assert.deepEqual(viaCommand.body.data.flows, fresh.body.flows);
    });

    it('refuses an invalid edge config with the fields at fault and leaves the node as it was', async () => {
      const { id, node } = await edge();
      const bad = await server.managerApi.put(`/api/v1/nodes/${id}/config`, { ...CONFIG, version: 1 });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /version/);
      const dangling = await server.managerApi.put(`/api/v1/nodes/${id}/config`, { ...CONFIG, flows: [{ id: 'f1', name: 'Main', input_ids: ['ghost'] }] });
      assert.equal(dangling.status, 400);
      assert.match(dangling.body.error, /ghost|input_ids/);
      assert.deepEqual(node.state.config.flows, []);
      assert.equal(commandsOf(node, 'update_config').length, 0);
      const big = await server.managerApi.put(`/api/v1/nodes/${id}/config`, { ...CONFIG, device_name: 'x'.repeat(110 * 1024) });
      assert.deepEqual([big.status, big.body], [413, { error: 'Payload too large' }]);
    });

    it('answers 504 when the node never acks, 502 when it is offline, 422 when it drops mid-wait', async () => {
      const { id, node } = await edge();
      node.neverAck = () => true;
      const silent = await command(id, { type: 'stop_flow', flow_id: 'f1' });
      assert.deepEqual([silent.status, silent.body], [504, { error: `Command timed out waiting for node response (${TIMEOUT_MS / 1000}s)` }]);

      const offline = await createNode();
      const unreachable = await command(offline.id, { type: 'stop_flow', flow_id: 'f1' });
      assert.deepEqual([unreachable.status, unreachable.body], [502, { error: `Node ${offline.id} is not connected` }]);
      const offlinePut = await server.managerApi.put(`/api/v1/nodes/${offline.id}/config`, CONFIG);
      assert.equal(offlinePut.status, 422, 'a config write fails as a command even offline');
      const offlineRead = await server.managerApi.get(`/api/v1/nodes/${offline.id}/config`);
      assert.equal(offlineRead.status, 502);

      const pending = command(id, { type: 'start_flow', flow_id: 'f1' });
      await node.waitFor((f) => f.type === 'command' && f.payload.action.type === 'start_flow');
      node.socket!.close();
      const dropped = await pending;
      assert.deepEqual([dropped.status, dropped.body], [422, { error: 'Node disconnected before acknowledging command' }]);
    });

    it('pairs out-of-order acks with their own requests', async () => {
      const { id, node } = await edge();
      assert.equal((await server.managerApi.put(`/api/v1/nodes/${id}/config`, CONFIG)).status, 200);
      node.ackDelayMs = (action) => (action.type === 'stop_flow' ? 600 : 0);
      const slow = command(id, { type: 'stop_flow', flow_id: 'f1' });
      await node.waitFor((f) => f.type === 'command' && f.payload.action.type === 'stop_flow');
      const fast = await command(id, { type: 'nope' });
      assert.deepEqual([fast.status, fast.body.error_code], [422, 'unknown_action']);
      const slowAnswer = await slow;
      assert.equal(slowAnswer.status, 200, slowAnswer.text);
      assert.equal(slowAnswer.body.command_id, commandsOf(node, 'stop_flow')[0]!.payload.command_id);
    });

    it('keeps viewers out, hides other nodes from a restricted operator, and holds relay admin commands to admins', async () => {
      const { id } = await edge();
      const other = await edge();
      const r = await relay();
      const viewer = await asOperator('viewer');
      const refused = await viewer.post(`/api/v1/nodes/${id}/command`, { action: { type: 'stop_flow', flow_id: 'f1' } });
      assert.equal(refused.status, 403);
      const operator = await asOperator('operator', [id, r.id]);
      const hidden = await operator.post(`/api/v1/nodes/${other.id}/command`, { action: { type: 'stop_flow', flow_id: 'f1' } });
      assert.deepEqual([hidden.status, hidden.body], [404, { error: 'Node not found' }]);
      const adminOnly = await operator.post(`/api/v1/nodes/${r.id}/command`, { action: { type: 'authorize_tunnel', tunnel_id: other.id } });
      assert.equal(adminOnly.status, 403);
      assert.equal(adminOnly.body.error_code, 'insufficient_role');
      assert.equal(typeof adminOnly.body.error, 'string');
      const listed = await operator.post(`/api/v1/nodes/${r.id}/command`, { action: { type: 'list_edges' } });
      assert.deepEqual([listed.status, listed.body.data], [200, []]);
      const unknownRelay = await command(r.id, { type: 'warp' });
      assert.deepEqual([unknownRelay.status, unknownRelay.body], [422, { error: 'Unknown relay command: warp' }]);
      const types = await viewer.get('/api/v1/device-types');
      assert.equal(types.status, 200);
      assert.deepEqual(types.body.device_types.map((t: any) => t.device_type).sort(), ['edge', 'relay']);
      const tooBig = await command(id, { type: 'stop_flow', flow_id: 'x'.repeat(51 * 1024) });
      assert.deepEqual([tooBig.status, tooBig.body], [413, { error: 'Payload too large' }]);
    });

    it('pushes a relay tunnel: the relay authorizes bind tokens, the edges get their inverted legs; delete revokes', async () => {
      const r = await relay();
      const entry = await edge();
      const exit = await edge();
      const res = await server.managerApi.post('/api/v1/tunnels', {
        name: 'cam-link',
        protocol: 'tcp',
        mode: 'relay',
        ingress_node_id: entry.id,
        ingress_listen_port: 7000,
        egress_node_id: exit.id,
        egress_forward_addr: '10.0.0.5:554',
        relay_addr: '203.0.113.10:4433',
        relay_node_id: r.id,
      });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual([res.body.status, res.body.warnings], ['active', []]);
      const tunnelId = res.body.id;
      const entryLeg = entry.node.state.config.tunnels!.find((t) => t.id === tunnelId)!;
      const exitLeg = exit.node.state.config.tunnels!.find((t) => t.id === tunnelId)!;
      assert.deepEqual([entryLeg.direction, entryLeg.local_addr], ['egress', '0.0.0.0:7000']);
      assert.deepEqual([exitLeg.direction, exitLeg.local_addr], ['ingress', '10.0.0.5:554']);
      for (const leg of [entryLeg, exitLeg]) {
        const direction = leg.direction as 'ingress' | 'egress';
        assert.equal(r.node.verifyBind(tunnelId, direction, bindToken(String(leg.tunnel_bind_secret), tunnelId, direction)), true);
        assert.equal(r.node.verifyBind(tunnelId, direction, bindToken('f'.repeat(64), tunnelId, direction)), false);
      }
      const listed = await server.managerApi.get(`/api/v1/nodes/${entry.id}/tunnels`);
      assert.deepEqual(
        listed.body.tunnels.map((t: any) => t.id),
        [tunnelId],
      );

      const deleted = await server.managerApi.delete(`/api/v1/tunnels/${tunnelId}`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal(commandsOf(entry.node, 'delete_tunnel').length, 1);
      assert.equal(commandsOf(exit.node, 'delete_tunnel').length, 1);
      assert.equal(commandsOf(r.node, 'revoke_tunnel').length, 1);
      assert.equal(r.node.state.authorized.has(tunnelId), false);
      assert.equal(entry.node.state.config.tunnels!.length, 0);
    });

    it('leaves a tunnel pending with a warning while a leg is offline, and pushes it when that edge connects', async () => {
      const r = await relay();
      const entry = await edge();
      const exitNode = await createNode();
      const res = await server.managerApi.post('/api/v1/tunnels', {
        name: 'late-exit',
        protocol: 'udp',
        mode: 'relay',
        ingress_node_id: entry.id,
        ingress_listen_port: 7001,
        egress_node_id: exitNode.id,
        egress_forward_addr: '10.0.0.6:5000',
        relay_addr: '203.0.113.10:4433',
        relay_node_id: r.id,
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.status, 'pending');
      assert.equal(res.body.warnings.length, 1);
      assert.match(res.body.warnings[0], /not connected/);
      const exit = bilbycastEdge(block({ registration_token: exitNode.registration_token }));
      running.push(exit);
      assert.deepEqual(await exit.connect(), { type: 'register_ack' });
      await eventually(async () => (await server.managerApi.get(`/api/v1/tunnels/${res.body.id}`)).body.status === 'active');
      assert.equal(exit.state.config.tunnels![0]!.direction, 'ingress');
    });

    it('direct mode shares one PSK between the edges; bad input is refused in the manager format; a tunnel goes with its node', async () => {
      const entry = await edge();
      const exit = await edge();
      const body = {
        name: 'direct-link',
        protocol: 'tcp',
        mode: 'direct',
        ingress_node_id: entry.id,
        ingress_listen_port: 7002,
        egress_node_id: exit.id,
        egress_forward_addr: '10.0.0.7:80',
        egress_peer_addr: '203.0.113.20:7100',
      };
      const refused = await server.managerApi.post('/api/v1/tunnels', { ...body, egress_peer_addr: null });
      assert.equal(refused.status, 400);
      assert.match(refused.body.error, /egress_peer_addr/);
      const operatorPost = await (await asOperator('operator')).post('/api/v1/tunnels', body);
      assert.equal(operatorPost.status, 403);
      const res = await server.managerApi.post('/api/v1/tunnels', body);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.status, 'active');
      const [entryLeg, exitLeg] = [entry, exit].map((e) => e.node.state.config.tunnels!.find((t) => t.id === res.body.id)!);
      assert.match(String(entryLeg!.tunnel_psk), /^[0-9a-f]{64}$/);
      assert.equal(entryLeg!.tunnel_psk, exitLeg!.tunnel_psk);
      assert.deepEqual([entryLeg!.peer_addr, exitLeg!.direct_listen_addr], ['203.0.113.20:7100', '0.0.0.0:7100']);
      assert.equal('tunnel_psk' in (await server.managerApi.get(`/api/v1/tunnels/${res.body.id}`)).body, false);

      assert.equal((await server.managerApi.delete(`/api/v1/nodes/${exit.id}`)).status, 204);
      assert.deepEqual((await server.managerApi.get(`/api/v1/tunnels/${res.body.id}`)).status, 404);
    });

    it('rotates a node secret: the node keeps the new one and reconnects with it; the old one is refused', async () => {
      const { id, node } = await edge();
      const old = node.manager.node_secret!;
      const rotated = await server.managerApi.post(`/api/v1/nodes/${id}/rotate-secret`);
      assert.equal(rotated.status, 200, rotated.text);
      assert.equal(rotated.body.success, true);
      assert.notEqual(node.manager.node_secret, old);
      const operator = await asOperator('operator');
      assert.equal((await operator.post(`/api/v1/nodes/${id}/rotate-secret`)).status, 403);

      const back = node.nextSession();
      node.socket!.close();
      await back;
      const impostor = bilbycastEdge(block({ node_id: id, node_secret: old }));
      running.push(impostor);
      const refused = await impostor.connect();
      assert.equal(refused.type, 'auth_error');
    });
  });
}
