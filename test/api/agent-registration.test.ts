import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatIp, hostRange, parseCidr } from '../../src/server/lib/ipv4.ts';
import { AGENT_PORTS, joinTicket, nodeEvents, registerAgent, registrationBody } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const TOKEN = /^[A-Za-z0-9+/]{43}$/;

for (const engine of testEngines()) {
  describe(`agent registration and health [${engine}]`, () => {
    let server: TestServer;
    let cluster: { id: string; name: string; ipv4_range: string };
    const db = () => server.ctx.database.db;
    /** Registers with `token`, by default a fresh join ticket of the suite's cluster. */
    const register = async (body: unknown, token?: string | null) =>
      server.api.withToken(token === undefined ? await joinTicket(server.api, cluster.name) : token).post('/api/v1/agents/nodes', body);
    const nodeRow = (id: string) => db().selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();

    before(async () => {
      server = await startServer(engine);
      cluster = await createCluster(server.api);
    });
    after(() => server.stop());

    it('registers a node with a join ticket: 201 with fresh credentials, the node is healthy with its ports and version', async () => {
      const body = registrationBody(cluster.name, { id_type: 'persistent', version: '1.2.3', self_update_enabled: true, http_port: 45000 });
      const res = await register(body);
      assert.equal(res.status, 201);
      const data = res.body.data;
      assert.deepEqual(Object.keys(data).sort(), ['admin_urls', 'api_token', 'derp_map_url', 'node_id', 'proxy_password']);
      assert.equal(data.node_id, body.node_id);
      assert.match(data.api_token, TOKEN);
      assert.match(data.proxy_password, TOKEN);
      assert.notEqual(data.api_token, data.proxy_password);
      assert.deepEqual(data.admin_urls, [server.url]);
      assert.equal(data.derp_map_url, null);
      assert.equal(res.headers.get('location'), null);

      const node = (await server.api.get(`/api/v1/nodes/${data.node_id}`)).body.data;
      assert.equal(node.status, 'healthy');
      assert.equal(node.cluster_name, cluster.name);
      assert.equal(node.id_type, 'persistent');
      assert.equal(node.version, '1.2.3');
      assert.equal(node.self_update_enabled, true);
      assert.equal(node.http_port, 45000);
      assert.equal(node.ssh_port, AGENT_PORTS.ssh_port);
      assert.equal(node.socks5_proxy_port, AGENT_PORTS.socks5_proxy_port);
      assert.equal(node.api_token, data.api_token);
      assert.equal(node.proxy_password, data.proxy_password);
      assert.match(node.last_seen_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const row = await db().selectFrom('nodes').select(['kind', 'name']).where('id', '=', data.node_id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { kind: 'edge-agent', name: `node-${data.node_id}` });
      const edge = await db().selectFrom('edge_nodes').selectAll().where('node_id', '=', data.node_id).executeTakeFirstOrThrow();
      assert.ok(!edge.api_token_enc.includes(data.api_token), 'the token is sealed at rest');
      assert.notEqual(edge.api_token_hash, data.api_token);

      const events = await nodeEvents(server.ctx, data.node_id);
      assert.deepEqual(
        events.map((e) => e.type),
        ['edge.node.registered'],
      );
      assert.equal(events[0]!.data.cluster_name, cluster.name);
      assert.equal(events[0]!.data.version, '1.2.3');
      assert.equal(events[0]!.data.http_port, 45000);
      assert.equal(events[0]!.data.self_update_enabled, true);
      assert.equal(events[0]!.data.status, 'healthy');
      assert.ok(!JSON.stringify(events[0]).includes(data.api_token), 'secrets never appear in events');
      assert.ok(!('api_token' in events[0]!.data));
    });

    it('tolerates unknown extra fields', async () => {
      const res = await register(registrationBody(cluster.name, { hostname: 'box-1', capabilities: ['x'] }));
      assert.equal(res.status, 201);
    });

    it('answers schema violations with 400 and stores nothing', async () => {
      const before = await db()
        .selectFrom('nodes')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      const { version: _version, ...missing } = registrationBody(cluster.name);
      const res = await register(missing);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'bad_request');
      assert.deepEqual(res.body.error.details, { version: ['Missing field: version'] });

      const bad = await register(
        registrationBody(cluster.name, { node_id: 'not-a-uuid', id_type: 'other', http_port: 0, ssh_port: 65536, self_update_enabled: 'yes' }),
      );
      assert.equal(bad.status, 400);
      const details = bad.body.error.details;
      assert.ok(details.node_id[0].startsWith('Invalid format'));
      assert.deepEqual(details.id_type, ['Invalid value for enum']);
      assert.deepEqual(details.http_port, ['0 is smaller than minimum 1']);
      assert.deepEqual(details.ssh_port, ['65536 is larger than maximum 65535']);
      assert.deepEqual(details.self_update_enabled, ['Invalid boolean. Got: string']);

      const after = await db()
        .selectFrom('nodes')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(after.n), Number(before.n));
    });

    it('answers 422 on network_name without the cluster- prefix or naming an unknown cluster', async () => {
      const noPrefix = await register(registrationBody(cluster.name, { network_name: cluster.name }));
      assert.equal(noPrefix.status, 422);
      assert.equal(noPrefix.body.error.code, 'validation_failed');
      assert.deepEqual(Object.keys(noPrefix.body.error.details), ['network_name']);
      const unknown = await register(registrationBody('nope-404'));
      assert.equal(unknown.status, 422);
      assert.deepEqual(unknown.body.error.details, { network_name: ['cluster not found'] });
    });

    it('re-registration rotates both secrets (the old token stops working) and upserts every field', async () => {
      const agent = await registerAgent(server.api, { cluster, version: '1.0.0' });
      const first = await nodeRow(agent.nodeId);
      await sleep(5);
      const again = await registerAgent(server.api, {
        cluster,
        node_id: agent.nodeId,
        token: agent.apiToken,
        version: '1.1.0',
        http_port: 46000,
        id_type: 'persistent',
        self_update_enabled: true,
      });
      assert.notEqual(again.apiToken, agent.apiToken);
      assert.notEqual(again.proxyPassword, agent.proxyPassword);

      const old = await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
      assert.equal(old.status, 401);
      assert.equal(old.body.error.code, 'unauthorized');
      const fresh = await again.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
      assert.equal(fresh.status, 200);

      const node = (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data;
      assert.equal(node.version, '1.1.0');
      assert.equal(node.http_port, 46000);
      assert.equal(node.id_type, 'persistent');
      assert.equal(node.self_update_enabled, true);
      assert.equal(node.api_token, again.apiToken);
      const second = await nodeRow(agent.nodeId);
      assert.equal(second!.inserted_at, first!.inserted_at);
      assert.ok(second!.last_seen_at! > first!.last_seen_at!);

      const events = await nodeEvents(server.ctx, agent.nodeId);
      assert.deepEqual(
        events.map((e) => e.type),
        ['edge.node.registered', 'edge.node.reregistered', 'edge.node.version_changed'],
      );
      assert.equal(events[1]!.data.version, '1.1.0');
      assert.equal(events[2]!.data.previous_version, '1.0.0');
      assert.equal(events[2]!.data.version, '1.1.0');

      await registerAgent(server.api, { cluster, node_id: agent.nodeId, token: again.apiToken, version: '1.1.0' });
      const later = await nodeEvents(server.ctx, agent.nodeId);
      assert.deepEqual(
        later.slice(3).map((e) => e.type),
        ['edge.node.reregistered'],
        'same version: no version_changed',
      );
    });

    it('re-registration sets an unhealthy node healthy again', async () => {
      const agent = await registerAgent(server.api, { cluster });
      await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
      assert.equal((await nodeRow(agent.nodeId))!.status, 'unhealthy');
      await registerAgent(server.api, { cluster, node_id: agent.nodeId, token: agent.apiToken });
      assert.equal((await nodeRow(agent.nodeId))!.status, 'healthy');
    });

    it('re-registration into another cluster moves the node, its address, and drops its aliases', async () => {
      const other = await createCluster(server.api);
      const agent = await registerAgent(server.api, { cluster });
      assert.equal((await server.api.post(`/api/v1/nodes/${agent.nodeId}/aliases`, { name: 'mover' })).status, 201);
      await registerAgent(server.api, { cluster: other, node_id: agent.nodeId, token: agent.apiToken });
      const node = (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data;
      assert.equal(node.cluster_name, other.name);
      assert.deepEqual(node.aliases, []);
      const allocation = await db().selectFrom('address_allocations').selectAll().where('node_id', '=', agent.nodeId).executeTakeFirstOrThrow();
      assert.equal(allocation.cluster_id, other.id);
      const range = parseCidr(other.ipv4_range)!;
      assert.equal(formatIp(Number(allocation.address)), formatIp(hostRange(range, 10).first));
    });

    it('refuses a new node over the cluster node limit with 409 and creates nothing; re-registration still works', async () => {
      const small = await createCluster(server.api, { node_limit: 1 });
      // Verified while there was room; the cluster fills before this agent registers.
      const early = await joinTicket(server.api, small.name);
      const member = await registerAgent(server.api, { cluster: small });
      const eventsBefore = await db()
        .selectFrom('events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();

      const body = registrationBody(small.name);
      const res = await register(body, early);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'conflict');
      assert.equal(res.body.error.message, 'cluster has reached its node limit of 1');
      assert.equal(await nodeRow(body.node_id as string), undefined);
      const allocation = await db()
        .selectFrom('address_allocations')
        .selectAll()
        .where('node_id', '=', body.node_id as string)
        .executeTakeFirst();
      assert.equal(allocation, undefined);
      const eventsAfter = await db()
        .selectFrom('events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(eventsAfter.n), Number(eventsBefore.n));

      const again = await register(registrationBody(small.name, { node_id: member.nodeId }), member.apiToken);
      assert.equal(again.status, 201);
      // Moving an existing node into a full cluster is a re-registration too: it never fails on capacity.
      const outsider = await registerAgent(server.api, { cluster });
      assert.equal((await register({ ...outsider.body, network_name: `cluster-${small.name}` }, outsider.apiToken)).status, 201);
    });

    it('refuses a join ticket for an existing node id with 409: the real agent keeps its token and the node its cluster', async () => {
      const agent = await registerAgent(server.api, { cluster });
      const elsewhere = await createCluster(server.api);
      const ticket = await joinTicket(server.api, elsewhere.name);
      const eventsBefore = (await nodeEvents(server.ctx, agent.nodeId)).length;

      const res = await register(registrationBody(elsewhere.name, { node_id: agent.nodeId }), ticket);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'conflict');
      assert.match(res.body.error.message, new RegExp(`^node_id ${agent.nodeId} is already registered by another machine`));
      assert.match(res.body.error.message, /NODEPLANE_AGENT_NODE_ID/);
      assert.match(res.body.error.message, /delete node/);
      assert.ok(!res.text.includes(agent.apiToken));

      const node = (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data;
      assert.equal(node.cluster_name, cluster.name);
      assert.equal(node.api_token, agent.apiToken);
      assert.equal((await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
      assert.equal((await nodeEvents(server.ctx, agent.nodeId)).length, eventsBefore, 'no reregistered event');

      // The refused ticket was not spent: the machine registers under its own new id with it.
      assert.equal((await register(registrationBody(elsewhere.name), ticket)).status, 201);
      // No credential at all, or another node's token: 401.
      assert.equal((await register(registrationBody(cluster.name, { node_id: agent.nodeId }), null)).status, 401);
      const other = await registerAgent(server.api, { cluster });
      assert.equal((await register(registrationBody(cluster.name, { node_id: agent.nodeId }), other.apiToken)).status, 401);
    });

    it('frees a node id for a join ticket once the operator deletes the node', async () => {
      const agent = await registerAgent(server.api, { cluster });
      assert.equal((await register(registrationBody(cluster.name, { node_id: agent.nodeId }))).status, 409);
      assert.equal((await server.api.delete(`/api/v1/nodes/${agent.nodeId}`)).status, 204);
      const res = await register(registrationBody(cluster.name, { node_id: agent.nodeId }));
      assert.equal(res.status, 201);
      assert.notEqual(res.body.data.api_token, agent.apiToken);
    });

    it('maps every spelling of a node id (case, urn:uuid: prefix) to one node with a valid hostname', async () => {
      const id = randomUUID();
      const upper = await register(registrationBody(cluster.name, { node_id: id.toUpperCase() }));
      assert.equal(upper.status, 201);
      assert.equal(upper.body.data.node_id, id);
      const token = upper.body.data.api_token as string;

      const urn = await register(registrationBody(cluster.name, { node_id: `urn:uuid:${id}` }));
      assert.equal(urn.status, 409, 'a join ticket cannot create a second node under another spelling');
      const again = await register(registrationBody(cluster.name, { node_id: `URN:UUID:${id.toUpperCase()}` }), token);
      assert.equal(again.status, 201);
      assert.equal(again.body.data.node_id, id);

      const rows = await db()
        .selectFrom('nodes')
        .select('id')
        .where((eb) => eb(eb.fn('lower', ['id']), 'like', `%${id}`))
        .execute();
      assert.deepEqual(
        rows.map((r) => r.id),
        [id],
      );
      const node = (await server.api.get(`/api/v1/nodes/${id.toUpperCase()}`)).body.data;
      assert.equal(node.id, id);
      assert.equal(node.vpn_hostname, `node-${id}.cluster-${cluster.name}.nm.internal`);
      const events = await nodeEvents(server.ctx, id);
      assert.deepEqual(
        events.map((e) => e.type),
        ['edge.node.registered', 'edge.node.reregistered'],
      );
    });

    it('refuses to take over a node id another face already uses', async () => {
      const id = randomUUID();
      const now = new Date().toISOString();
      await db()
        .insertInto('nodes')
        .values({
          id,
          kind: 'mesh',
          name: 'mesh-1',
          cluster_id: null,
          status: 'healthy',
          last_seen_at: null,
          version: null,
          labels: '{}',
          inserted_at: now,
          updated_at: now,
        })
        .execute();
      const res = await register(registrationBody(cluster.name, { node_id: id }));
      assert.equal(res.status, 409);
      assert.equal(res.body.error.message, 'node_id has already been taken');
      assert.equal((await nodeRow(id))!.kind, 'mesh');
    });

    it('hands out unique addresses inside the range across 50 concurrent registrations in one cluster', async () => {
      const busy = await createCluster(server.api);
      const agents = await Promise.all(Array.from({ length: 50 }, () => registerAgent(server.api, { cluster: busy })));
      const rows = await db().selectFrom('address_allocations').select(['node_id', 'address']).where('cluster_id', '=', busy.id).execute();
      assert.equal(rows.length, 50);
      assert.deepEqual(new Set(rows.map((r) => r.node_id)), new Set(agents.map((a) => a.nodeId)));
      const addresses = rows.map((r) => Number(r.address));
      assert.equal(new Set(addresses).size, 50, 'no address is handed out twice');
      const { first, last } = hostRange(parseCidr(busy.ipv4_range)!, 10);
      for (const a of addresses) assert.ok(a >= first && a <= last, `${formatIp(a)} lies inside ${busy.ipv4_range} past the reserved hosts`);
      // Lowest-free allocation packs the range.
      assert.equal(Math.max(...addresses), first + 49);
    });

    it('is refused with 503 while the admin cluster is degraded', async () => {
      const original = server.ctx.instances.isDegraded;
      server.ctx.instances.isDegraded = () => true;
      try {
        const res = await register(registrationBody(cluster.name));
        assert.equal(res.status, 503);
        assert.equal(res.body.error.code, 'degraded_mode');
      } finally {
        server.ctx.instances.isDegraded = original;
      }
    });

    describe('health check', () => {
      it('needs the node token: 401 without it or with a wrong one', async () => {
        const none = await server.api.withToken(null).patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
        assert.equal(none.status, 401);
        const wrong = await server.api.withToken('x'.repeat(43)).patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.body.error.code, 'unauthorized');
        const admin = await server.api.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
        assert.equal(admin.status, 401, 'admin keys are not node tokens');
      });

      it('rejects any status but healthy/unhealthy with 400', async () => {
        const agent = await registerAgent(server.api, { cluster });
        const res = await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unreachable' });
        assert.equal(res.status, 400);
        assert.deepEqual(res.body.error.details, { status: ['Invalid value for enum'] });
      });

      it('answers the registration shape with the current credentials', async () => {
        const agent = await registerAgent(server.api, { cluster });
        const res = await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.data, {
          node_id: agent.nodeId,
          api_token: agent.apiToken,
          proxy_password: agent.proxyPassword,
          admin_urls: [server.url],
          derp_map_url: null,
        });
      });

      it('with an unchanged status writes nothing at once; last_seen_at advances at the next flush', async () => {
        const agent = await registerAgent(server.api, { cluster });
        const registered = (await nodeRow(agent.nodeId))!;
        // Park the flush timer so "nothing written yet" cannot race a tick.
        await server.ctx.nodes.stop();
        try {
          await sleep(5);
          const res = await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
          assert.equal(res.status, 200);
          const unflushed = (await nodeRow(agent.nodeId))!;
          assert.equal(unflushed.last_seen_at, registered.last_seen_at);
          assert.equal(unflushed.updated_at, registered.updated_at);
        } finally {
          await server.ctx.nodes.start();
        }
        let row = (await nodeRow(agent.nodeId))!;
        for (let i = 0; i < 30 && row.last_seen_at === registered.last_seen_at; i++) {
          await sleep(100);
          row = (await nodeRow(agent.nodeId))!;
        }
        assert.ok(row.last_seen_at! > registered.last_seen_at!, 'the flush advanced last_seen_at');
        assert.equal(row.status, 'healthy');
        assert.deepEqual(
          (await nodeEvents(server.ctx, agent.nodeId)).map((e) => e.type),
          ['edge.node.registered'],
        );
      });

      it('a status change is written at once and emits status_changed with previous_status', async () => {
        const agent = await registerAgent(server.api, { cluster });
        const registered = (await nodeRow(agent.nodeId))!;
        await sleep(5);
        const res = await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
        assert.equal(res.status, 200);
        const row = (await nodeRow(agent.nodeId))!;
        assert.equal(row.status, 'unhealthy');
        assert.ok(row.last_seen_at! > registered.last_seen_at!);
        const node = (await server.api.get(`/api/v1/nodes/${agent.nodeId}`)).body.data;
        assert.equal(node.status, 'unhealthy');

        await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
        await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' });
        // Within NODE_STATUS_DEBOUNCE_MS of the last change, a change is held and lands when that window ends.
        const statusChanges = async () => (await nodeEvents(server.ctx, agent.nodeId)).filter((e) => e.type === 'edge.node.status_changed');
        assert.equal((await statusChanges()).length, 1);
        for (let i = 0; i < 150 && (await statusChanges()).length < 2; i++) await sleep(100);
        assert.equal((await nodeRow(agent.nodeId))!.status, 'healthy');
        const events = await statusChanges();
        assert.deepEqual(
          events.map((e) => [e.data.previous_status, e.data.status]),
          [
            ['healthy', 'unhealthy'],
            ['unhealthy', 'healthy'],
          ],
        );
        assert.equal(events[0]!.data.cluster_name, cluster.name);
      });

      it('keeps working while degraded', async () => {
        const agent = await registerAgent(server.api, { cluster });
        const original = server.ctx.instances.isDegraded;
        server.ctx.instances.isDegraded = () => true;
        try {
          assert.equal((await agent.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 200);
        } finally {
          server.ctx.instances.isDegraded = original;
        }
      });
    });
  });
}
