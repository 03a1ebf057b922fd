import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { enqueue } from '../../src/server/jobs/job-queue.ts';
import { EXECUTION_CREATION_QUEUE } from '../../src/server/modules/commands/command.service.ts';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { eventsOf, StreamAgent } from '../helpers/stream-agent.ts';

const future = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();

for (const engine of testEngines()) {
  describe(`commands API [${engine}]`, () => {
    let server: TestServer;
    let n1: RegisteredAgent, n2: RegisteredAgent, n3: RegisteredAgent, n4: RegisteredAgent;
    const sameSet = (actual: string[], expected: RegisteredAgent[]) => assert.deepEqual([...actual].sort(), expected.map((a) => a.nodeId).sort());

    /** Creates a command (201 expected) and waits for its executions. */
    async function run(body: Record<string, unknown>) {
      const res = await server.api.post('/api/v1/commands', { command_text: 'echo hi', ...body });
      assert.equal(res.status, 201, res.text);
      await server.ctx.jobs.drain();
      const executions = await server.api.get(`/api/v1/command_executions?command_id=${res.body.data.id}&page_size=100`);
      assert.equal(executions.status, 200, executions.text);
      return { command: res.body.data, executions: executions.body.data as any[] };
    }
    const nodesOf = (executions: any[]) => executions.map((e) => e.node_id);

    before(async () => {
      server = await startServer(engine);
      const east = await createCluster(server.api, { name: 'prod-east' });
      const west = await createCluster(server.api, { name: 'prod-west' });
      const staging = await createCluster(server.api, { name: 'staging', node_limit: 5 });
      n1 = await registerAgent(server.api, { cluster: east, id_type: 'persistent', version: '1.0.0', self_update_enabled: true });
      n2 = await registerAgent(server.api, { cluster: east, version: '1.1.0' });
      n3 = await registerAgent(server.api, { cluster: west, version: '2.0.0' });
      n4 = await registerAgent(server.api, { cluster: staging, id_type: 'persistent', version: '1.0.0-beta' });
      await n3.client.patch('/api/v1/agents/nodes/me/health_check', { status: 'unhealthy' });
    });
    after(() => server.stop());

    it('answers 201 with the command before any execution exists; the job then creates one per node', async () => {
      await server.ctx.jobs.stop();
      let id: string;
      try {
        const expiredAt = future();
        const res = await server.api.post('/api/v1/commands', {
          command_text: 'ABC=1\necho $ABC',
          timeout: 30000,
          expired_at: expiredAt,
          targeting: { type: 'all' },
        });
        assert.equal(res.status, 201, res.text);
        id = res.body.data.id;
        assert.equal(res.headers.get('location'), `/api/v1/commands/${id}`);
        assert.deepEqual(res.body.data, {
          id,
          command_text: 'ABC=1\necho $ABC',
          timeout: 30000,
          expired_at: `${expiredAt.slice(0, 19)}Z`,
          targeting: { type: 'all' },
          inserted_at: res.body.data.inserted_at,
          updated_at: res.body.data.updated_at,
        });
        assert.match(res.body.data.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const none = await server.api.get(`/api/v1/command_executions?command_id=${id}`);
        assert.equal(none.body.meta.pagination.total_count, 0);
      } finally {
        server.ctx.jobs.start();
      }
      await server.ctx.jobs.drain();
      const executions = (await server.api.get(`/api/v1/command_executions?command_id=${id}`)).body.data;
      sameSet(nodesOf(executions), [n1, n2, n3, n4]);
      for (const e of executions) {
        assert.equal(e.status, 'pending');
        assert.equal(e.target_all, true);
        assert.equal(e.cluster_name, null);
        assert.equal(e.command_text, 'ABC=1\necho $ABC');
        assert.equal(e.timeout, 30000);
      }
    });

    it("emits edge.command_execution.created per execution with the node's cluster and no output", async () => {
      const { command, executions } = await run({ command_text: 'uptime', targeting: { type: 'nodes', node_ids: [n1.nodeId, n3.nodeId] } });
      const events = (await eventsOf(server, 'edge.command_execution.created')).filter((e) => e.data.command_id === command.id);
      assert.equal(events.length, 2);
      const forN1 = events.find((e) => e.data.node_id === n1.nodeId)!;
      const execution = executions.find((e) => e.node_id === n1.nodeId);
      assert.deepEqual(forN1.data, {
        command_execution_id: execution.id,
        command_id: command.id,
        node_id: n1.nodeId,
        cluster_name: 'prod-east',
        command_text: 'uptime',
        timeout: null,
        status: 'pending',
        exit_code: null,
        target_all: false,
        expired_at: null,
        sent_at: null,
        completed_at: null,
        cancelled_at: null,
        inserted_at: execution.inserted_at,
        updated_at: execution.updated_at,
      });
    });

    it('a retried creation job inserts, announces and pushes nothing twice', async () => {
      const live = await StreamAgent.connect(server, n1);
      try {
        const { command, executions } = await run({ command_text: 'once', targeting: { type: 'nodes', node_ids: [n1.nodeId, n2.nodeId] } });
        await live.execution(executions.find((e) => e.node_id === n1.nodeId).id);
        await enqueue(server.ctx.database.db, EXECUTION_CREATION_QUEUE, { command_id: command.id });
        server.ctx.jobs.kick();
        await server.ctx.jobs.drain();
        const again = await server.api.get(`/api/v1/command_executions?command_id=${command.id}`);
        assert.deepEqual(again.body.data.map((e: any) => e.id).sort(), executions.map((e) => e.id).sort());
        assert.equal((await eventsOf(server, 'edge.command_execution.created')).filter((e) => e.data.command_id === command.id).length, 2);
        await sleep(100);
        assert.equal(live.ofType('execution').filter((f) => f.execution.command_id === command.id).length, 1);
      } finally {
        await live.close();
      }
    });

    describe('targeting', () => {
      it('all, narrowed by node filters and cluster filters', async () => {
        sameSet(nodesOf((await run({ targeting: { type: 'all', node_filters: { status: 'healthy' } } })).executions), [n1, n2, n4]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', cluster_filters: { name: 'prod*' } } })).executions), [n1, n2, n3]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', node_filters: { version: '1.*', id_type: 'persistent' } } })).executions), [n1, n4]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', node_filters: { cluster_name: 'prod-west' } } })).executions), [n3]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', node_filters: { self_update_enabled: true } } })).executions), [n1]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', cluster_filters: { has_node_limit: true } } })).executions), [n4]);
        sameSet(nodesOf((await run({ targeting: { type: 'all', cluster_filters: { node_count__gte: 2 } } })).executions), [n1, n2]);
        sameSet(
          nodesOf((await run({ targeting: { type: 'all', node_filters: { last_seen_at__gte: '2000-01-01', inserted_at__lte: future() } } })).executions),
          [n1, n2, n3, n4],
        );
      });

      it('nodes: deduplicated, unknown ids dropped, intersected with node filters; cluster filters do not apply', async () => {
        const targeting = { type: 'nodes', node_ids: [n1.nodeId, n1.nodeId, randomUUID(), n2.nodeId] };
        const { command, executions } = await run({ targeting });
        sameSet(nodesOf(executions), [n1, n2]);
        assert.ok(
          executions.every((e) => e.target_all === false && e.cluster_name === null),
          'no cluster, not target_all',
        );
        assert.deepEqual(command.targeting, targeting, 'the stored targeting echoes the request');
        sameSet(nodesOf((await run({ targeting: { type: 'nodes', node_ids: [n1.nodeId, n2.nodeId], node_filters: { version: '1.1.0' } } })).executions), [n2]);
        sameSet(nodesOf((await run({ targeting: { type: 'nodes', node_ids: [n3.nodeId], cluster_filters: { name: 'staging' } } })).executions), [n3]);
      });

      it('clusters: the single resolved cluster is recorded, several are not', async () => {
        const one = await run({ targeting: { type: 'clusters', cluster_names: ['prod-east', 'no-such-cluster'] } });
        sameSet(nodesOf(one.executions), [n1, n2]);
        assert.ok(
          one.executions.every((e) => e.cluster_name === 'prod-east' && e.target_all === false),
          'the one cluster is recorded',
        );

        const two = await run({ targeting: { type: 'clusters', cluster_names: ['prod-east', 'prod-west', 'prod-east'] } });
        sameSet(nodesOf(two.executions), [n1, n2, n3]);
        assert.ok(
          two.executions.every((e) => e.cluster_name === null),
          'several clusters: none recorded',
        );

        const filtered = await run({
          targeting: { type: 'clusters', cluster_names: ['prod-east', 'prod-west'], cluster_filters: { name: '*west' }, node_filters: { status: 'unhealthy' } },
        });
        sameSet(nodesOf(filtered.executions), [n3]);
        assert.ok(
          filtered.executions.every((e) => e.cluster_name === 'prod-west'),
          'the filter left one cluster',
        );
      });

      it('creates executions regardless of health, and none when nothing matches', async () => {
        sameSet(nodesOf((await run({ targeting: { type: 'nodes', node_ids: [n3.nodeId] } })).executions), [n3]);
        assert.equal((await run({ targeting: { type: 'clusters', cluster_names: ['nope'] } })).executions.length, 0);
        assert.equal((await run({ targeting: { type: 'all', cluster_filters: { name: 'nothing*' } } })).executions.length, 0);
      });
    });

    describe('validation', () => {
      it('422 for whitespace text, a past deadline and missing node_ids/cluster_names, all at once', async () => {
        const res = await server.api.post('/api/v1/commands', { command_text: '  \n ', expired_at: '2020-01-01T00:00:00Z', targeting: { type: 'nodes' } });
        assert.equal(res.status, 422);
        assert.deepEqual(res.body.error, {
          code: 'validation_failed',
          message: 'Validation failed',
          details: {
            command_text: ['cannot be empty or only whitespace'],
            expired_at: ['must be in the future'],
            node_ids: ["is required when targeting_type is 'nodes'"],
          },
        });
        const empty = await server.api.post('/api/v1/commands', { command_text: 'x', targeting: { type: 'clusters', cluster_names: [] } });
        assert.equal(empty.status, 422);
        assert.deepEqual(empty.body.error.details, { cluster_names: ["is required when targeting_type is 'clusters'"] });
        const noIds = await server.api.post('/api/v1/commands', { command_text: 'x', targeting: { type: 'nodes', node_ids: [] } });
        assert.deepEqual(noIds.body.error.details, { node_ids: ["is required when targeting_type is 'nodes'"] });
      });

      it('400 for schema violations, including unknown filter keys; nothing is stored', async () => {
        const before = (await server.api.get('/api/v1/commands')).body.meta.pagination.total_count;
        const cases: Array<[unknown, string]> = [
          [{ targeting: { type: 'all' } }, 'command_text'],
          [{ command_text: 'x' }, 'targeting'],
          [{ command_text: '', targeting: { type: 'all' } }, 'command_text'],
          [{ command_text: 'x', timeout: 0, targeting: { type: 'all' } }, 'timeout'],
          [{ command_text: 'x', expired_at: 'tomorrow', targeting: { type: 'all' } }, 'expired_at'],
          [{ command_text: 'x', targeting: { type: 'everything' } }, 'targeting/type'],
          [{ command_text: 'x', targeting: {} }, 'targeting/type'],
          [{ command_text: 'x', targeting: { type: 'nodes', node_ids: ['not-a-uuid'] } }, 'targeting/node_ids/0'],
          [{ command_text: 'x', targeting: { type: 'all', node_filters: { colour: 'red' } } }, 'targeting/node_filters/colour'],
          [{ command_text: 'x', targeting: { type: 'all', cluster_filters: { node_limit: 3 } } }, 'targeting/cluster_filters/node_limit'],
          [{ command_text: 'x', targeting: { type: 'all', node_filters: { status: 'offline' } } }, 'targeting/node_filters/status'],
          [{ command_text: 'x', targeting: { type: 'all' }, priority: 1 }, 'priority'],
        ];
        for (const [body, field] of cases) {
          const res = await server.api.post('/api/v1/commands', body);
          assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status}`);
          assert.equal(res.body.error.code, 'bad_request');
          assert.ok(field in res.body.error.details, `${field} not in ${JSON.stringify(res.body.error.details)}`);
        }
        assert.equal((await server.api.get('/api/v1/commands')).body.meta.pagination.total_count, before);
      });

      it('401 without the API key', async () => {
        assert.equal((await server.api.withToken(null).post('/api/v1/commands', { command_text: 'x', targeting: { type: 'all' } })).status, 401);
        assert.equal((await server.api.withToken(n1.apiToken).get('/api/v1/commands')).status, 401);
      });
    });

    describe('list and get', () => {
      let a: any, b: any, c: any;
      before(async () => {
        a = (
          await server.api.post('/api/v1/commands', {
            command_text: 'zq docker ps -a',
            timeout: 1000,
            targeting: { type: 'clusters', cluster_names: ['nope'] },
          })
        ).body.data;
        await sleep(5);
        b = (
          await server.api.post('/api/v1/commands', {
            command_text: 'zq Docker images',
            timeout: 5000,
            expired_at: future(86_400_000 * 3),
            targeting: { type: 'clusters', cluster_names: ['nope'] },
          })
        ).body.data;
        await sleep(5);
        c = (await server.api.post('/api/v1/commands', { command_text: 'zq reboot', targeting: { type: 'clusters', cluster_names: ['nope'] } })).body.data;
        await server.ctx.jobs.drain();
      });
      const ids = async (query: string) => {
        const res = await server.api.get(`/api/v1/commands?${query}`);
        assert.equal(res.status, 200, res.text);
        return res.body.data.map((x: any) => x.id);
      };

      it('filters by text (exact, wildcard, list), timeout and deadline', async () => {
        assert.deepEqual(await ids(`command_text=${encodeURIComponent('zq reboot')}`), [c.id]);
        assert.deepEqual(await ids(`command_text=${encodeURIComponent('ZQ docker*')}`), [b.id, a.id]);
        assert.deepEqual(await ids(`command_text=${encodeURIComponent('zq reboot,zq docker ps -a')}`), [c.id, a.id]);
        assert.ok((await ids('has_timeout=false')).includes(c.id), 'no timeout');
        assert.ok(!(await ids('has_timeout=false')).includes(a.id), 'has a timeout');
        assert.deepEqual(await ids('timeout__gte=2000&timeout__lte=5000'), [b.id]);
        assert.deepEqual(await ids('has_expired_at=true&command_text=*images'), [b.id]);
        const day = future(86_400_000 * 3).slice(0, 10);
        assert.deepEqual(await ids(`expired_at__gte=${day}&expired_at__lte=${day}`), [b.id]);
      });

      it('sorts, paginates, and rejects unknown parameters', async () => {
        assert.deepEqual(await ids('command_text=zq*&order_by=timeout&order_directions=desc&has_timeout=true'), [b.id, a.id]);
        const page = await server.api.get('/api/v1/commands?page_size=1&page=2&command_text=zq*');
        assert.equal(page.body.data[0].id, b.id);
        assert.deepEqual(
          { ...page.body.meta.pagination },
          { page: 2, page_size: 1, total_count: 3, total_pages: 3, has_next: true, has_prev: true, next_page: 3, prev_page: 1 },
        );
        assert.equal((await server.api.get('/api/v1/commands?colour=red')).status, 400);
        assert.equal((await server.api.get('/api/v1/commands?page_size=101')).status, 400);
        assert.equal((await server.api.get('/api/v1/commands?timeout__gte=0')).status, 400);
      });

      it('gets one; 404 unknown, 400 malformed', async () => {
        const res = await server.api.get(`/api/v1/commands/${b.id}`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.data, b);
        assert.equal((await server.api.get(`/api/v1/commands/${randomUUID()}`)).status, 404);
        const bad = await server.api.get('/api/v1/commands/nope');
        assert.equal(bad.status, 400);
        assert.ok(bad.body.error.details.id, 'details name the id');
      });
    });

    describe('delete', () => {
      it('409 while executions are pending or sent, then cascades without events', async () => {
        const { command, executions } = await run({ targeting: { type: 'nodes', node_ids: [n1.nodeId, n2.nodeId] } });
        const blocked = await server.api.delete(`/api/v1/commands/${command.id}`);
        assert.equal(blocked.status, 409);
        assert.deepEqual(blocked.body.error, {
          code: 'conflict',
          message: 'cannot delete command with 2 non-completed execution(s) - all executions must be completed first',
        });

        const [first, second] = executions;
        const firstAgent = [n1, n2].find((n) => n.nodeId === first.node_id)!;
        assert.equal((await firstAgent.client.patch(`/api/v1/agents/command_executions/${first.id}/acknowledge`)).status, 200);
        assert.equal(
          (await firstAgent.client.patch(`/api/v1/agents/command_executions/${first.id}/result`, { status: 'completed', exit_code: 0, output: 'ok' })).status,
          200,
        );
        const still = await server.api.delete(`/api/v1/commands/${command.id}`);
        assert.equal(still.body.error.message, 'cannot delete command with 1 non-completed execution(s) - all executions must be completed first');
        assert.equal((await server.api.patch(`/api/v1/command_executions/${second.id}/cancel`)).status, 200);

        const eventCount = (await eventsOf(server, 'edge.command_execution.pruned', 'edge.command_execution.cancelled')).length;
        assert.equal((await server.api.delete(`/api/v1/commands/${command.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/commands/${command.id}`)).status, 404);
        assert.equal((await server.api.get(`/api/v1/command_executions/${first.id}`)).status, 404);
        assert.equal((await eventsOf(server, 'edge.command_execution.pruned', 'edge.command_execution.cancelled')).length, eventCount);
        assert.equal((await server.api.delete(`/api/v1/commands/${command.id}`)).status, 404);
        assert.equal((await server.api.delete('/api/v1/commands/xyz')).status, 400);
      });

      it('a deleted command never gets executions from a job that had not run yet', async () => {
        await server.ctx.jobs.stop();
        let id: string;
        try {
          id = (await server.api.post('/api/v1/commands', { command_text: 'late', targeting: { type: 'all' } })).body.data.id;
          assert.equal((await server.api.delete(`/api/v1/commands/${id}`)).status, 204);
        } finally {
          server.ctx.jobs.start();
        }
        await server.ctx.jobs.drain();
        assert.equal((await server.api.get(`/api/v1/command_executions?command_id=${id}`)).body.meta.pagination.total_count, 0);
      });
    });

    describe('delivery over the live channel', () => {
      it('pushes each new execution to connected agents at once; the others get it when they connect', async () => {
        const live = await StreamAgent.connect(server, n1);
        try {
          const { executions } = await run({ command_text: 'date', timeout: 500, targeting: { type: 'nodes', node_ids: [n1.nodeId, n2.nodeId] } });
          const mine = executions.find((e) => e.node_id === n1.nodeId);
          const frame = await live.execution(mine.id);
          assert.deepEqual(frame, {
            type: 'execution',
            execution: {
              id: mine.id,
              command_id: mine.command_id,
              command_text: 'date',
              timeout: 500,
              expired_at: null,
              status: 'pending',
              inserted_at: mine.inserted_at,
            },
          });

          const theirs = executions.find((e) => e.node_id === n2.nodeId);
          const late = await StreamAgent.connect(server, n2);
          try {
            await late.execution(theirs.id);
            assert.ok(!late.ofType('execution').some((f) => f.execution.id === mine.id), 'only its own executions');
          } finally {
            await late.close();
          }
        } finally {
          await live.close();
        }
      });

      it('pushes on reconnect only what is still pending and not past its deadline', async () => {
        const { executions } = await run({ command_text: 'hostname', targeting: { type: 'nodes', node_ids: [n4.nodeId] } });
        const expiring = await run({ command_text: 'soon', expired_at: future(400), targeting: { type: 'nodes', node_ids: [n4.nodeId] } });
        const claimed = await run({ command_text: 'claimed', targeting: { type: 'nodes', node_ids: [n4.nodeId] } });
        assert.equal((await n4.client.patch(`/api/v1/agents/command_executions/${claimed.executions[0].id}/acknowledge`)).status, 200);
        await sleep(500);
        const agent = await StreamAgent.connect(server, n4);
        try {
          await agent.execution(executions[0].id);
          await sleep(100);
          const pushed = agent.ofType('execution').map((f) => f.execution.id);
          assert.ok(!pushed.includes(expiring.executions[0].id), 'past its deadline');
          assert.ok(!pushed.includes(claimed.executions[0].id), 'already sent');
        } finally {
          await agent.close();
        }
      });

      it('keeps executions of a deleted node with node_id null', async () => {
        const temp = await registerAgent(server.api, { cluster: 'staging' });
        const { executions } = await run({ targeting: { type: 'nodes', node_ids: [temp.nodeId] } });
        assert.equal((await server.api.delete(`/api/v1/nodes/${temp.nodeId}`)).status, 204);
        const kept = await server.api.get(`/api/v1/command_executions/${executions[0].id}`);
        assert.equal(kept.status, 200);
        assert.equal(kept.body.data.node_id, null);
        assert.equal(kept.body.data.status, 'pending');
      });
    });
  });
}
