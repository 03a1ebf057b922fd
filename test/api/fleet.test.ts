import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { createNode, registeredNode } from '../helpers/vpn-admin.ts';

type CoreNode = Awaited<ReturnType<typeof createNode>>;

for (const engine of testEngines()) {
  describe(`fleet API [${engine}]`, () => {
    let server: TestServer;
    let healthy: RegisteredAgent, sick: RegisteredAgent, other: RegisteredAgent;
    let fresh: CoreNode, live: CoreNode, disabled: CoreNode;
    const list = async (query: string) => {
      const res = await server.api.get(`/api/v1/fleet?${query}`);
      assert.equal(res.status, 200, res.text);
      return res;
    };
    const ids = async (query: string) => ((await list(query)).body.data as Array<{ id: string }>).map((n) => n.id).sort();
    const sorted = (...nodes: Array<{ id: string } | RegisteredAgent>) => nodes.map((n) => ('nodeId' in n ? n.nodeId : n.id)).sort();

    before(async () => {
      server = await startServer(engine);
      await createCluster(server.api, { name: 'fleet-east' });
      await createCluster(server.api, { name: 'fleet-west' });
      // Spaced out so the default newest-first order is unambiguous.
      healthy = await registerAgent(server.api, { cluster: 'fleet-east', version: '1.2.0' });
      await sleep(3);
      sick = await registerAgent(server.api, { cluster: 'fleet-east', version: '1.3.0' });
      await sick.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
      await sleep(3);
      other = await registerAgent(server.api, { cluster: 'fleet-west', version: '1.2.0' });
      await sleep(3);
      fresh = await createNode(server.api);
      await sleep(3);
      const registered = await registeredNode(server.api);
      live = registered.node;
      assert.equal((await registered.client.post('/heartbeat', { revision: 0 })).status, 200);
      await sleep(3);
      disabled = await createNode(server.api);
      assert.equal((await server.api.patch(`/api/v1/vpn/nodes/${disabled.id}`, { disabled: true })).status, 200);
    });
    after(() => server.stop());

    it('lists edge agents and Core nodes together, newest first, with shared statuses', async () => {
      const res = await list('');
      assert.equal(res.body.meta.pagination.total_count, 6);
      const byId = new Map((res.body.data as any[]).map((n) => [n.id, n]));
      assert.deepEqual(
        res.body.data.map((n: any) => n.id),
        [disabled.id, live.id, fresh.id, other.nodeId, sick.nodeId, healthy.nodeId],
      );
      const first = byId.get(healthy.nodeId);
      assert.deepEqual(Object.keys(first).sort(), [
        'cluster_name',
        'id',
        'inserted_at',
        'kind',
        'kind_status',
        'labels',
        'last_seen_at',
        'name',
        'status',
        'updated_at',
        'version',
      ]);
      assert.deepEqual(
        {
          kind: first.kind,
          name: first.name,
          cluster_name: first.cluster_name,
          status: first.status,
          kind_status: first.kind_status,
          version: first.version,
          labels: first.labels,
        },
        {
          kind: 'edge-agent',
          name: `node-${healthy.nodeId}`,
          cluster_name: 'fleet-east',
          status: 'online',
          kind_status: 'healthy',
          version: '1.2.0',
          labels: {},
        },
      );
      assert.ok(first.last_seen_at);
      const shared = (id: string) => [byId.get(id).kind, byId.get(id).status, byId.get(id).kind_status];
      assert.deepEqual(shared(sick.nodeId), ['edge-agent', 'degraded', 'unhealthy']);
      assert.deepEqual(shared(fresh.id), ['core', 'pending', 'pending']);
      assert.deepEqual(shared(live.id), ['core', 'online', 'online']);
      assert.deepEqual(shared(disabled.id), ['core', 'offline', 'disabled']);
      assert.equal(byId.get(fresh.id).name, fresh.name);
      assert.equal(byId.get(fresh.id).cluster_name, null);
      assert.equal(byId.get(fresh.id).last_seen_at, null);
    });

    it('filters by kind, shared status, cluster, name and version, with comma lists and wildcards', async () => {
      assert.deepEqual(await ids('kind=core'), sorted(fresh, live, disabled));
      assert.deepEqual(await ids('kind=edge-agent'), sorted(healthy, sick, other));
      assert.deepEqual(await ids('kind=mesh'), []);
      assert.deepEqual(await ids('status=online'), sorted(healthy, other, live));
      assert.deepEqual(await ids('status=degraded,pending'), sorted(sick, fresh));
      assert.deepEqual(await ids('status=offline'), sorted(disabled));
      assert.deepEqual(await ids('status=error'), []);
      assert.deepEqual(await ids('kind=core&status=online,offline'), sorted(live, disabled));
      assert.deepEqual(await ids('cluster_name=fleet-east'), sorted(healthy, sick));
      assert.deepEqual(await ids('cluster_name=fleet-*'), sorted(healthy, sick, other));
      assert.deepEqual(await ids('cluster_name=fleet-east,fleet-west'), sorted(healthy, sick, other));
      assert.deepEqual(await ids(`name=${encodeURIComponent(fresh.name)}`), sorted(fresh));
      assert.deepEqual(await ids('name=CORE-*'), sorted(fresh, live, disabled));
      assert.deepEqual(await ids('version=1.2.0'), sorted(healthy, other));
    });

    it('pages and sorts across kinds', async () => {
      const page1 = await list('page_size=4&order_by=kind,name&order_directions=asc,asc');
      const page2 = await list('page_size=4&page=2&order_by=kind,name&order_directions=asc,asc');
      assert.deepEqual(page1.body.meta.pagination, {
        page: 1,
        page_size: 4,
        total_count: 6,
        total_pages: 2,
        has_next: true,
        has_prev: false,
        next_page: 2,
        prev_page: null,
      });
      assert.equal(page2.body.data.length, 2);
      const kinds = [...page1.body.data, ...page2.body.data].map((n: any) => n.kind);
      assert.deepEqual(kinds, ['core', 'core', 'core', 'edge-agent', 'edge-agent', 'edge-agent']);
      const coreNames = page1.body.data.slice(0, 3).map((n: any) => n.name);
      assert.deepEqual(coreNames, [...coreNames].sort());
      // An unknown sort field falls back to the default order, as every Admin API list does.
      assert.equal((await list('order_by=secret_column')).body.data[0].id, disabled.id);
    });

    it('gets one node of either kind, and 404s an unknown id', async () => {
      const edge = await server.api.get(`/api/v1/fleet/${sick.nodeId}`);
      assert.equal(edge.status, 200);
      assert.equal(edge.body.data.status, 'degraded');
      const core = await server.api.get(`/api/v1/fleet/${live.id}`);
      assert.equal(core.status, 200);
      assert.equal(core.body.data.kind, 'core');
      const missing = await server.api.get(`/api/v1/fleet/${randomUUID()}`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'not_found');
      assert.equal((await server.api.get('/api/v1/fleet/not-a-uuid')).status, 400);
    });

    it('renames and labels nodes of both kinds; the kind lists show the new names and labels filter', async () => {
      const edge = await server.api.patch(`/api/v1/fleet/${healthy.nodeId}`, { name: 'gateway-1', labels: { env: 'prod', 'team.io/owner': 'net ops' } });
      assert.equal(edge.status, 200, edge.text);
      assert.equal(edge.body.data.name, 'gateway-1');
      assert.deepEqual(edge.body.data.labels, { env: 'prod', 'team.io/owner': 'net ops' });
      assert.equal((await server.api.get(`/api/v1/nodes/${healthy.nodeId}`)).body.data.node_name, 'gateway-1');
      // Re-registering (every agent restart) keeps what the operator set.
      await registerAgent(server.api, { cluster: 'fleet-east', node_id: healthy.nodeId, token: healthy.apiToken });
      const again = (await server.api.get(`/api/v1/fleet/${healthy.nodeId}`)).body.data;
      assert.deepEqual([again.name, again.labels], ['gateway-1', { env: 'prod', 'team.io/owner': 'net ops' }]);

      const core = await server.api.patch(`/api/v1/fleet/${live.id}`, { name: 'Frankfurt #2', labels: { env: 'staging' } });
      assert.equal(core.status, 200, core.text);
      assert.equal((await server.api.get(`/api/v1/vpn/nodes/${live.id}`)).body.data.name, 'Frankfurt #2');
      const other2 = await server.api.patch(`/api/v1/fleet/${other.nodeId}`, { labels: { env: 'prod', rack: 'r7' } });
      assert.equal(other2.body.data.name, `node-${other.nodeId}`, 'labels alone leave the name');

      assert.deepEqual(await ids('labels=env:prod'), sorted(healthy, other));
      assert.deepEqual(await ids('labels=env'), sorted(healthy, other, live));
      assert.deepEqual(await ids('labels=env:prod,rack:r7'), sorted(other));
      assert.deepEqual(await ids('labels=env:PROD'), [], 'label values match exactly');
      assert.deepEqual(await ids(`labels=${encodeURIComponent('team.io/owner:net ops')}`), sorted(healthy));
      assert.deepEqual(await ids('labels=env:staging&kind=core'), sorted(live));

      // `labels` replaces the set; `{}` clears it.
      const cleared = await server.api.patch(`/api/v1/fleet/${other.nodeId}`, { labels: {} });
      assert.deepEqual(cleared.body.data.labels, {});
      assert.deepEqual(await ids('labels=rack'), []);
    });

    it('refuses names and labels that break the rules, changing nothing', async () => {
      const before = (await server.api.get(`/api/v1/fleet/${sick.nodeId}`)).body.data;
      // An edge node's name is a host label.
      for (const name of ['Has Caps', 'under_score', '-lead', `node-${healthy.nodeId}`, randomUUID(), 'x'.repeat(64)]) {
        const res = await server.api.patch(`/api/v1/fleet/${sick.nodeId}`, { name, labels: { changed: 'yes' } });
        assert.equal(res.status, 422, `${name}: ${res.text}`);
        assert.equal(res.body.error.code, 'validation_failed');
        assert.ok(res.body.error.details.name, res.text);
      }
      // Its own default name is fine to go back to.
      assert.equal((await server.api.patch(`/api/v1/fleet/${sick.nodeId}`, { name: `node-${sick.nodeId}` })).status, 200);
      assert.equal((await server.api.patch(`/api/v1/fleet/${fresh.id}`, { name: '   ' })).status, 422);
      const bad: unknown[] = [
        {},
        { name: '' },
        { name: 'x'.repeat(101) },
        { labels: { 'bad key': 'v' } },
        { labels: { 'a:b': 'v' } },
        { labels: { k: 'a,b' } },
        { labels: { k: 'x'.repeat(256) } },
        { labels: { k: 1 } },
        { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
        { labels: ['a'] },
        { kind: 'core' },
        { status: 'online' },
      ];
      for (const body of bad) {
        const res = await server.api.patch(`/api/v1/fleet/${sick.nodeId}`, body);
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
        assert.equal(res.body.error.code, 'bad_request');
      }
      const after = (await server.api.get(`/api/v1/fleet/${sick.nodeId}`)).body.data;
      assert.deepEqual({ ...after, updated_at: before.updated_at }, before);
      assert.equal((await server.api.patch(`/api/v1/fleet/${randomUUID()}`, { name: 'ghost' })).status, 404);
    });

    it('refuses malformed list queries with 400', async () => {
      for (const query of [
        'kind=router',
        'kind=core,',
        'status=healthy',
        'status=online,nope',
        'labels=a b',
        'labels=:v',
        'labels=k:a,',
        'page_size=101',
        'color=red',
      ]) {
        const res = await server.api.get(`/api/v1/fleet?${query}`);
        assert.equal(res.status, 400, `${query}: ${res.text}`);
        assert.equal(res.body.error.code, 'bad_request');
      }
    });

    it('deletes each kind by its own rules', async () => {
      const alias = await server.api.post(`/api/v1/nodes/${other.nodeId}/aliases`, { name: 'doomed' });
      assert.equal(alias.status, 201, alias.text);
      assert.equal((await server.api.delete(`/api/v1/fleet/${other.nodeId}`)).status, 204);
      assert.equal((await server.api.get(`/api/v1/nodes/${other.nodeId}`)).status, 404);
      assert.equal((await server.api.get(`/api/v1/aliases/${alias.body.data.id}`)).status, 404);
      // The node's api_token stopped working with it.
      assert.equal((await other.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'healthy' })).status, 401);

      assert.equal((await server.api.delete(`/api/v1/fleet/${fresh.id}`)).status, 204);
      assert.equal((await server.api.get(`/api/v1/vpn/nodes/${fresh.id}`)).status, 404);

      assert.deepEqual(await ids(''), sorted(healthy, sick, live, disabled));
      assert.equal((await server.api.delete(`/api/v1/fleet/${fresh.id}`)).status, 404);
      assert.equal((await server.api.get(`/api/v1/fleet/${other.nodeId}`)).status, 404);
    });

    it('requires the Admin API key', async () => {
      const anonymous = server.api.withToken(null);
      assert.equal((await anonymous.get('/api/v1/fleet')).status, 401);
      assert.equal((await anonymous.patch(`/api/v1/fleet/${sick.nodeId}`, { name: 'x' })).status, 401);
      assert.equal((await healthy.client.delete(`/api/v1/fleet/${sick.nodeId}`)).status, 401);
    });
  });
}
