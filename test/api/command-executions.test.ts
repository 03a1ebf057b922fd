import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/server/config.ts';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { eventsOf, StreamAgent, waitUntil } from '../helpers/stream-agent.ts';

const SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

for (const engine of testEngines()) {
  describe(`command executions [${engine}]`, () => {
    let server: TestServer;
    let east: RegisteredAgent, east2: RegisteredAgent, west: RegisteredAgent;

    /** One pending execution per node of `nodes`; returns them by node. */
    async function executionsFor(nodes: RegisteredAgent[], body: Record<string, unknown> = {}): Promise<Map<string, any>> {
      const res = await server.api.post('/api/v1/commands', {
        command_text: 'echo hi',
        targeting: { type: 'nodes', node_ids: nodes.map((n) => n.nodeId) },
        ...body,
      });
      assert.equal(res.status, 201, res.text);
      await server.ctx.jobs.drain();
      const list = await server.api.get(`/api/v1/command_executions?command_id=${res.body.data.id}&page_size=100`);
      return new Map(list.body.data.map((e: any) => [e.node_id, e]));
    }
    const one = async (node: RegisteredAgent, body: Record<string, unknown> = {}) => (await executionsFor([node], body)).get(node.nodeId);
    const ack = (node: RegisteredAgent, id: string) => node.client.patch(`/api/v1/agents/command_executions/${id}/acknowledge`);
    const result = (node: RegisteredAgent, id: string, body: unknown) => node.client.patch(`/api/v1/agents/command_executions/${id}/result`, body);
    const get = async (id: string) => (await server.api.get(`/api/v1/command_executions/${id}`)).body.data;
    const eventsFor = async (id: string) =>
      (
        await eventsOf(
          server,
          'edge.command_execution.created',
          'edge.command_execution.sent',
          'edge.command_execution.completed',
          'edge.command_execution.cancelled',
          'edge.command_execution.expired',
          'edge.command_execution.pruned',
        )
      ).filter((e) => e.data.command_execution_id === id);
    /** pending → sent through the agent route. */
    async function sent(node: RegisteredAgent, body: Record<string, unknown> = {}) {
      const execution = await one(node, body);
      assert.equal((await ack(node, execution.id)).status, 200);
      return execution;
    }

    before(async () => {
      server = await startServer(engine, {
        EXECUTION_EXPIRY_SWEEP_MS: '100',
        EXECUTION_PRUNING_ENABLED: 'true',
        EXECUTION_PRUNING_INTERVAL_MS: '100',
        EXECUTION_RETENTION_DAYS: '30',
      });
      const eastCluster = await createCluster(server.api, { name: 'east' });
      const westCluster = await createCluster(server.api, { name: 'west' });
      east = await registerAgent(server.api, { cluster: eastCluster });
      east2 = await registerAgent(server.api, { cluster: eastCluster });
      west = await registerAgent(server.api, { cluster: westCluster });
    });
    after(() => server.stop());

    describe('agent list (polling)', () => {
      it('requires status, is scoped to the caller, oldest first, 100 per page', async () => {
        const first = await executionsFor([east, west]);
        await sleep(5);
        const second = await one(east, { command_text: 'second' });
        const res = await east.client.get('/api/v1/agents/command_executions?status=pending');
        assert.equal(res.status, 200, res.text);
        const ids = res.body.data.map((e: any) => e.id);
        assert.ok(ids.indexOf(first.get(east.nodeId).id) < ids.indexOf(second.id), 'oldest first');
        assert.ok(!ids.includes(first.get(west.nodeId).id), "another node's execution");
        assert.equal(res.body.meta.pagination.page_size, 100);
        assert.deepEqual(
          res.body.data.find((e: any) => e.id === second.id),
          {
            id: second.id,
            command_id: second.command_id,
            command_text: 'second',
            timeout: null,
            expired_at: null,
            status: 'pending',
            inserted_at: second.inserted_at,
          },
        );
        const desc = await east.client.get('/api/v1/agents/command_executions?status=pending&order_by=inserted_at&order_directions=desc&page_size=1');
        assert.equal(desc.body.data[0].id, second.id);

        const missing = await east.client.get('/api/v1/agents/command_executions');
        assert.equal(missing.status, 400);
        assert.deepEqual(missing.body.error.details, { status: ['Missing field: status'] });
        assert.equal((await east.client.get('/api/v1/agents/command_executions?status=running')).status, 400);
        assert.equal((await east.client.get('/api/v1/agents/command_executions?status=pending&node_id=x')).status, 400);
        assert.equal((await server.api.get('/api/v1/agents/command_executions?status=pending')).status, 401, 'admin keys are not node tokens');
      });
    });

    describe('acknowledge', () => {
      it('moves pending → sent once, with sent_at and a .sent event; a second claim is 409', async () => {
        const execution = await one(east);
        const res = await ack(east, execution.id);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.data.status, 'sent');
        assert.deepEqual(Object.keys(res.body.data).sort(), ['command_id', 'command_text', 'expired_at', 'id', 'inserted_at', 'status', 'timeout']);
        const stored = await get(execution.id);
        assert.equal(stored.status, 'sent');
        assert.match(stored.sent_at, SECONDS);
        const events = await eventsFor(execution.id);
        assert.deepEqual(
          events.map((e) => e.type),
          ['edge.command_execution.created', 'edge.command_execution.sent'],
        );
        assert.equal(events[1]!.data.sent_at, stored.sent_at);

        const again = await ack(east, execution.id);
        assert.equal(again.status, 409);
        assert.deepEqual(again.body.error, { code: 'conflict', message: "execution is in 'sent' status and cannot be acknowledged (must be 'pending')" });
      });

      it('exactly one of many concurrent claims succeeds', async () => {
        const execution = await one(east);
        const answers = await Promise.all(Array.from({ length: 12 }, () => ack(east, execution.id)));
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [200, ...Array(11).fill(409)]);
        assert.equal((await eventsFor(execution.id)).filter((e) => e.type === 'edge.command_execution.sent').length, 1);
      });

      it("403 for another node's execution, 404 unknown, 400 malformed, 401 without a token", async () => {
        const execution = await one(west);
        const forbidden = await ack(east, execution.id);
        assert.equal(forbidden.status, 403);
        assert.deepEqual(forbidden.body.error, { code: 'forbidden', message: 'Forbidden' });
        assert.equal((await get(execution.id)).status, 'pending');
        assert.equal((await ack(east, randomUUID())).status, 404);
        assert.equal((await ack(east, 'nope')).status, 400);
        assert.equal((await east.client.withToken(null).patch(`/api/v1/agents/command_executions/${execution.id}/acknowledge`)).status, 401);
        const withBody = await east.client.request('PATCH', `/api/v1/agents/command_executions/${execution.id}/acknowledge`, { rawBody: '' });
        assert.equal(withBody.status, 403, 'an empty JSON body is no body');
      });
    });

    describe('result (the state machine of §8.3)', () => {
      it('sent → completed with output, exit code and completed_at; .completed event without output', async () => {
        const execution = await sent(east);
        const res = await result(east, execution.id, {
          status: 'completed',
          exit_code: 0,
          output: 'hi\n',
          completed_at: '2030-01-02T03:04:05.678Z',
          extra: 'tolerated',
        });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.data.status, 'completed');
        const stored = await get(execution.id);
        assert.equal(stored.output, 'hi\n');
        assert.equal(stored.exit_code, 0);
        assert.equal(stored.completed_at, '2030-01-02T03:04:05Z');
        const event = (await eventsFor(execution.id)).at(-1)!;
        assert.equal(event.type, 'edge.command_execution.completed');
        assert.equal(event.data.exit_code, 0);
        assert.equal(event.data.status, 'completed');
        assert.equal('output' in event.data, false);
      });

      it('a failure is completed with its exit code; the agent timeout is 124; completed_at defaults to now', async () => {
        const failed = await sent(east);
        assert.equal((await result(east, failed.id, { status: 'completed', exit_code: 2, output: 'boom' })).status, 200);
        assert.equal((await get(failed.id)).status, 'completed');
        const timedOut = await sent(east, { timeout: 100 });
        assert.equal(
          (await result(east, timedOut.id, { status: 'completed', exit_code: 124, output: 'Command timed out after 100 milliseconds' })).status,
          200,
        );
        const stored = await get(timedOut.id);
        assert.equal(stored.status, 'completed');
        assert.equal(stored.exit_code, 124);
        assert.ok(Math.abs(Date.parse(stored.completed_at) - Date.now()) < 5000, `completed_at ${stored.completed_at} is now`);
      });

      it('exit code 143 → cancelled with cancelled_at and a .cancelled event; reported expired → expired', async () => {
        const killed = await sent(east);
        assert.equal((await result(east, killed.id, { status: 'completed', exit_code: 143, output: 'Command cancelled' })).body.data.status, 'cancelled');
        const stored = await get(killed.id);
        assert.equal(stored.status, 'cancelled');
        assert.match(stored.cancelled_at, SECONDS);
        assert.equal((await eventsFor(killed.id)).at(-1)!.type, 'edge.command_execution.cancelled');

        const late = await sent(east);
        assert.equal((await result(east, late.id, { status: 'expired' })).body.data.status, 'expired');
        assert.equal((await get(late.id)).exit_code, null);
        assert.equal((await eventsFor(late.id)).at(-1)!.type, 'edge.command_execution.expired');
      });

      it('409 for a pending execution and for a different second result', async () => {
        const pending = await one(east);
        const early = await result(east, pending.id, { status: 'completed', exit_code: 0 });
        assert.equal(early.status, 409);
        assert.equal(early.body.error.message, "execution is in 'pending' status (exit_code: nil) and cannot be updated");

        const done = await sent(east);
        assert.equal((await result(east, done.id, { status: 'completed', exit_code: 0, output: 'a' })).status, 200);
        const different = await result(east, done.id, { status: 'completed', exit_code: 1, output: 'a' });
        assert.equal(different.status, 409);
        assert.equal(different.body.error.message, "execution is in 'completed' status (exit_code: 0) and cannot be updated");
      });

      it('a retried identical report answers 200 and changes nothing (no loop of 409s)', async () => {
        const execution = await sent(east);
        const report = { status: 'completed', exit_code: 0, output: 'same' };
        const firstAnswer = await result(east, execution.id, report);
        const before = await get(execution.id);
        const eventsBefore = (await eventsFor(execution.id)).length;
        await sleep(1100);
        const retried = await Promise.all([result(east, execution.id, report), result(east, execution.id, report)]);
        for (const r of retried) {
          assert.equal(r.status, 200);
          assert.deepEqual(r.body.data, firstAnswer.body.data);
        }
        assert.deepEqual(await get(execution.id), before, 'nothing changed, not even updated_at');
        assert.equal((await eventsFor(execution.id)).length, eventsBefore);

        const cancelled = await sent(east);
        const kill = { status: 'completed', exit_code: 143 };
        assert.equal((await result(east, cancelled.id, kill)).status, 200);
        assert.equal((await result(east, cancelled.id, kill)).status, 200);
      });

      it('accepts the real result after an admin cancel of a pending execution (a race placeholder)', async () => {
        const execution = await one(east);
        assert.equal((await server.api.patch(`/api/v1/command_executions/${execution.id}/cancel`)).body.data.result, 'execution cancelled');
        const cancelledAt = (await get(execution.id)).cancelled_at;
        assert.equal((await result(east, execution.id, { status: 'completed', exit_code: 0, output: 'ran anyway' })).status, 200);
        const stored = await get(execution.id);
        assert.equal(stored.status, 'completed');
        assert.equal(stored.output, 'ran anyway');
        assert.equal(stored.cancelled_at, cancelledAt);
      });

      it('stores large output as reported', async () => {
        const execution = await sent(east);
        const output = 'x'.repeat(2 * 1024 * 1024);
        assert.equal((await result(east, execution.id, { status: 'completed', exit_code: 0, output })).status, 200);
        assert.equal((await get(execution.id)).output.length, output.length);
      });

      it('400 for a bad status or types, 403 for another node, 404 unknown', async () => {
        const execution = await sent(east);
        for (const body of [
          {},
          { status: 'failed' },
          { status: 'completed', exit_code: 'zero' },
          { status: 'completed', completed_at: 'later' },
          { status: 'completed', output: 5 },
        ]) {
          const res = await result(east, execution.id, body);
          assert.equal(res.status, 400, JSON.stringify(body));
        }
        assert.equal((await result(west, execution.id, { status: 'completed', exit_code: 0 })).status, 403);
        assert.equal((await result(east, randomUUID(), { status: 'completed' })).status, 404);
        assert.equal((await get(execution.id)).status, 'sent');
      });
    });

    describe('cancel', () => {
      it('pending → cancelled at once', async () => {
        const execution = await one(east);
        const res = await server.api.patch(`/api/v1/command_executions/${execution.id}/cancel`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.data, { result: 'execution cancelled' });
        const stored = await get(execution.id);
        assert.equal(stored.status, 'cancelled');
        assert.match(stored.cancelled_at, SECONDS);
        assert.equal((await eventsFor(execution.id)).at(-1)!.type, 'edge.command_execution.cancelled');
        assert.equal((await ack(east, execution.id)).status, 409, 'the agent can no longer claim it');
      });

      it('sent: the connected agent is told to kill it; its 143 report cancels it', async () => {
        const agent = await StreamAgent.connect(server, east2);
        try {
          const execution = await sent(east2);
          const res = await server.api.request('PATCH', `/api/v1/command_executions/${execution.id}/cancel`, { rawBody: '' });
          assert.equal(res.status, 200, res.text);
          assert.deepEqual(res.body.data, { result: 'cancellation request sent' });
          assert.deepEqual(await agent.waitFor((f) => f.type === 'cancel_execution'), { type: 'cancel_execution', id: execution.id });
          assert.equal((await get(execution.id)).status, 'sent', 'stays sent until the agent reports');
          assert.equal((await result(east2, execution.id, { status: 'completed', exit_code: 143, output: 'Command cancelled' })).status, 200);
          assert.equal((await get(execution.id)).status, 'cancelled');
        } finally {
          await agent.close();
        }
      });

      it('sent without a live channel → 503; terminal → 409; unknown → 404', async () => {
        const execution = await sent(west);
        const unavailable = await server.api.patch(`/api/v1/command_executions/${execution.id}/cancel`);
        assert.equal(unavailable.status, 503);
        assert.deepEqual(unavailable.body.error, { code: 'service_unavailable', message: 'Service Unavailable' });
        assert.equal((await get(execution.id)).status, 'sent');
        assert.equal((await result(west, execution.id, { status: 'completed', exit_code: 0 })).status, 200);
        const terminal = await server.api.patch(`/api/v1/command_executions/${execution.id}/cancel`);
        assert.equal(terminal.status, 409);
        assert.equal(terminal.body.error.message, "cannot cancel execution with status 'completed' - only 'pending' or 'sent' executions can be cancelled");
        assert.equal((await server.api.patch(`/api/v1/command_executions/${randomUUID()}/cancel`)).status, 404);
        assert.equal((await server.api.patch('/api/v1/command_executions/1/cancel')).status, 400);
      });
    });

    describe('delete', () => {
      it('only terminal executions; 409 otherwise', async () => {
        const execution = await one(east);
        const blocked = await server.api.delete(`/api/v1/command_executions/${execution.id}`);
        assert.equal(blocked.status, 409);
        assert.equal(
          blocked.body.error.message,
          "cannot delete execution with status 'pending' - only completed, cancelled, or expired executions can be deleted",
        );
        await ack(east, execution.id);
        assert.equal(
          (await server.api.delete(`/api/v1/command_executions/${execution.id}`)).body.error.message,
          "cannot delete execution with status 'sent' - only completed, cancelled, or expired executions can be deleted",
        );
        await result(east, execution.id, { status: 'completed', exit_code: 0 });
        assert.equal((await server.api.delete(`/api/v1/command_executions/${execution.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/command_executions/${execution.id}`)).status, 404);
        assert.equal((await server.api.delete(`/api/v1/command_executions/${execution.id}`)).status, 404);
      });
    });

    describe('admin list and get', () => {
      let command: string;
      let done: any, failed: any, waiting: any, clustered: any;
      before(async () => {
        const res = await server.api.post('/api/v1/commands', {
          command_text: 'listing',
          targeting: { type: 'nodes', node_ids: [east.nodeId, east2.nodeId, west.nodeId] },
        });
        command = res.body.data.id;
        await server.ctx.jobs.drain();
        const byNode = new Map((await server.api.get(`/api/v1/command_executions?command_id=${command}`)).body.data.map((e: any) => [e.node_id, e]));
        done = byNode.get(east.nodeId);
        failed = byNode.get(west.nodeId);
        waiting = byNode.get(east2.nodeId);
        await ack(east, done.id);
        await result(east, done.id, { status: 'completed', exit_code: 0, output: 'All good' });
        await ack(west, failed.id);
        await result(west, failed.id, { status: 'completed', exit_code: 3, output: 'disk FAILED' });
        const single = await server.api.post('/api/v1/commands', { command_text: 'clustered', targeting: { type: 'clusters', cluster_names: ['west'] } });
        await server.ctx.jobs.drain();
        clustered = (await server.api.get(`/api/v1/command_executions?command_id=${single.body.data.id}`)).body.data[0];
      });
      const ids = async (query: string) => {
        const res = await server.api.get(`/api/v1/command_executions?command_id=${command}&${query}`);
        assert.equal(res.status, 200, res.text);
        return res.body.data.map((e: any) => e.id).sort();
      };
      const sorted = (...xs: any[]) => xs.map((x) => x.id).sort();

      it('renders every field', async () => {
        const res = await server.api.get(`/api/v1/command_executions/${failed.id}`);
        assert.equal(res.status, 200);
        const e = res.body.data;
        assert.deepEqual(e, {
          id: failed.id,
          command_id: command,
          node_id: west.nodeId,
          cluster_name: null,
          target_all: false,
          status: 'completed',
          command_text: 'listing',
          timeout: null,
          output: 'disk FAILED',
          exit_code: 3,
          sent_at: e.sent_at,
          completed_at: e.completed_at,
          cancelled_at: null,
          expired_at: null,
          inserted_at: failed.inserted_at,
          updated_at: e.updated_at,
        });
        assert.equal(clustered.cluster_name, 'west');
        assert.equal((await server.api.get(`/api/v1/command_executions/${clustered.id}`)).body.data.cluster_name, 'west', 'get and list agree');
        assert.equal((await server.api.get(`/api/v1/command_executions/${randomUUID()}`)).status, 404);
      });

      it('filters: status, exit codes, output, node, cluster, presence and dates', async () => {
        assert.deepEqual(await ids('status=completed'), sorted(done, failed));
        assert.deepEqual(await ids('status=pending'), sorted(waiting));
        assert.deepEqual(await ids('exit_code=0'), sorted(done));
        assert.deepEqual(await ids('exit_code__gte=1'), sorted(failed));
        assert.deepEqual(await ids('exit_code__lte=3&exit_code__gte=0'), sorted(done, failed));
        assert.deepEqual(await ids('has_output=true'), sorted(done, failed));
        assert.deepEqual(await ids('has_output=false'), sorted(waiting));
        assert.deepEqual(await ids('output=*failed*'), sorted(failed));
        assert.deepEqual(await ids(`output=${encodeURIComponent('All good')}`), sorted(done));
        assert.deepEqual(await ids('output=all good'), []);
        assert.deepEqual(await ids(`node_id=${west.nodeId}`), sorted(failed));
        assert.deepEqual(await ids('cluster_name=east'), sorted(done, waiting));
        assert.deepEqual(await ids('cluster_name=*ST'), sorted(done, waiting, failed));
        assert.deepEqual(await ids('cluster_name=east,west'), sorted(done, waiting, failed), 'comma lists are ignored on cluster_name');
        assert.deepEqual(await ids('has_cluster=true'), []);
        assert.deepEqual(await ids('target_all=false'), sorted(done, waiting, failed));
        assert.deepEqual(await ids('target_all=true'), []);
        const today = new Date().toISOString().slice(0, 10);
        assert.deepEqual(await ids(`sent_at__gte=${today}&completed_at__lte=${today}`), sorted(done, failed));
        assert.deepEqual(await ids('cancelled_at__gte=2000-01-01'), []);
        assert.deepEqual(await ids(`inserted_at__gte=${today}&updated_at__lte=2999-01-01`), sorted(done, waiting, failed));
        const clusteredOnly = await server.api.get(`/api/v1/command_executions?has_cluster=true&node_id=${west.nodeId}`);
        assert.deepEqual(
          clusteredOnly.body.data.map((e: any) => e.id),
          [clustered.id],
        );
      });

      it('sorts by exit code, falls back on unknown fields, rejects unknown parameters', async () => {
        const res = await server.api.get(`/api/v1/command_executions?command_id=${command}&order_by=exit_code&order_directions=desc`);
        assert.deepEqual(
          res.body.data.map((e: any) => e.id),
          [waiting.id, failed.id, done.id],
          'nulls first when descending',
        );
        assert.equal((await server.api.get(`/api/v1/command_executions?command_id=${command}&order_by=output`)).status, 200);
        assert.equal((await server.api.get('/api/v1/command_executions?status=failed')).status, 400);
        assert.equal((await server.api.get('/api/v1/command_executions?command_id=abc')).status, 400);
        assert.equal((await server.api.get('/api/v1/command_executions?exit_code=-1')).status, 400);
        assert.equal((await server.api.get('/api/v1/command_executions?bogus=1')).status, 400);
      });
    });

    describe('expiry sweep', () => {
      it('expires pending and sent executions past the deadline; tells a connected agent to stop; still takes its late result', async () => {
        const agent = await StreamAgent.connect(server, east2);
        try {
          const deadline = new Date(Date.now() + 1200).toISOString();
          const executions = await executionsFor([east, east2], { command_text: 'slow', expired_at: deadline });
          const pending = executions.get(east.nodeId);
          const running = executions.get(east2.nodeId);
          await agent.execution(running.id);
          assert.equal((await ack(east2, running.id)).status, 200);

          await waitUntil(async () => (await get(pending.id)).status === 'expired' && (await get(running.id)).status === 'expired', 5000);
          assert.ok(Date.now() >= Date.parse(deadline), 'not expired before the deadline');
          assert.deepEqual(await agent.waitFor((f) => f.type === 'cancel_execution' && f.id === running.id), { type: 'cancel_execution', id: running.id });
          for (const id of [pending.id, running.id]) {
            const expired = (await eventsFor(id)).filter((e) => e.type === 'edge.command_execution.expired');
            assert.equal(expired.length, 1);
            assert.equal(expired[0]!.data.status, 'expired');
            assert.equal(expired[0]!.data.expired_at, `${deadline.slice(0, 19)}Z`);
          }
          assert.equal((await ack(east, pending.id)).status, 409);

          assert.equal((await result(east2, running.id, { status: 'completed', exit_code: 0, output: 'finished just in time' })).status, 200);
          assert.equal((await get(running.id)).status, 'completed');
        } finally {
          await agent.close();
        }
      });
    });

    describe('pruning', () => {
      it('is off by default and keeps 30 days', () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-config-'));
        try {
          const config = loadConfig({ DATA_DIR: dir }, dir);
          assert.equal(config.executionPruningEnabled, false);
          assert.equal(config.executionRetentionDays, 30);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('deletes finalised executions older than the retention, announcing each; keeps the rest', async () => {
        const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
        const backdate = (ids: string[]) => server.ctx.database.db.updateTable('command_executions').set({ inserted_at: old }).where('id', 'in', ids).execute();

        const completed = await sent(east);
        await result(east, completed.id, { status: 'completed', exit_code: 0 });
        const killed = await sent(east);
        await result(east, killed.id, { status: 'completed', exit_code: 143 });
        const placeholder = await one(east);
        await server.api.patch(`/api/v1/command_executions/${placeholder.id}/cancel`);
        const open = await one(east);
        const recent = await sent(east);
        await result(east, recent.id, { status: 'completed', exit_code: 0 });
        await backdate([completed.id, killed.id, placeholder.id, open.id]);

        await waitUntil(async () => (await server.api.get(`/api/v1/command_executions/${completed.id}`)).status === 404);
        await waitUntil(async () => (await server.api.get(`/api/v1/command_executions/${killed.id}`)).status === 404);
        for (const kept of [placeholder, open, recent]) assert.equal((await server.api.get(`/api/v1/command_executions/${kept.id}`)).status, 200);
        const pruned = (await eventsFor(completed.id)).filter((e) => e.type === 'edge.command_execution.pruned');
        assert.equal(pruned.length, 1);
        assert.equal(pruned[0]!.data.status, 'completed');
        assert.equal(pruned[0]!.data.exit_code, 0);
        assert.equal((await eventsFor(killed.id)).at(-1)!.data.status, 'cancelled');
      });
    });
  });
}
