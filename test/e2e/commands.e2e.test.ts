/**
 * Commands end to end with real processes: `nodeplane serve` and several `nodeplane agent`s. A
 * command targeted at a cluster runs on every agent in it and their output and exit codes come
 * back; a long command is cancelled (143 → cancelled) and another times out (124); a command for an
 * offline agent is delivered when it comes back; an expired command's executions become expired;
 * no execution runs twice when the agent restarts mid-command.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testEngines } from '../helpers/server.ts';
import { AgentProcess, ServerProcess, until } from '../helpers/processes.ts';

const SERVER_ENV = { AGENT_PING_INTERVAL_MS: '500', EXECUTION_EXPIRY_SWEEP_MS: '200' };

for (const engine of testEngines()) {
  describe(`commands end to end, real agents [${engine}]`, () => {
    let server: ServerProcess;
    const agents: AgentProcess[] = [];
    const nodeIds: string[] = [];

    const startAgent = async (cluster: string) => {
      const key = (await server.api.post(`/api/v1/clusters/${cluster}/enrollment_keys`, {})).body.data.key;
      const nodeId = randomUUID();
      const agent = new AgentProcess({
        NODEPLANE_SERVER_URL: server.url,
        NODEPLANE_AGENT_NODE_ID: nodeId,
        NODEPLANE_AGENT_SSH_ENABLED: 'false',
        NODEPLANE_AGENT_HEALTH_INTERVAL_MS: '1000',
        NODEPLANE_AGENT_METRICS_INTERVAL_MS: '60000',
        NODEPLANE_AGENT_POLL_INTERVAL_MS: '500',
      });
      agents.push(agent);
      agent.start(['--enrollment-key', key]);
      await until(async () => (await server.api.get(`/api/v1/nodes/${nodeId}`)).body.data?.status === 'healthy', `agent up\n${agent.output}`, 30_000);
      return { agent, nodeId };
    };
    const executionsOf = async (commandId: string) =>
      (await server.api.get(`/api/v1/command_executions?command_id=${commandId}&page_size=100`)).body.data as any[];
    const runCommand = (body: Record<string, unknown>) => server.api.post('/api/v1/commands', body);
    const terminal = (e: any) => ['completed', 'cancelled', 'expired'].includes(e.status);

    before(async () => {
      server = await ServerProcess.create(engine, SERVER_ENV);
      for (const name of ['alpha', 'beta']) assert.equal((await server.api.post('/api/v1/clusters', { name })).status, 201);
      for (const cluster of ['alpha', 'alpha', 'beta']) nodeIds.push((await startAgent(cluster)).nodeId);
    });
    after(async () => {
      for (const a of agents) await a.destroy();
      await server.destroy();
    });

    it('runs a command on every agent of a cluster and brings back output and exit codes', async () => {
      const res = await runCommand({ command_text: 'echo "hello from $(hostname)"; exit 7', targeting: { type: 'clusters', cluster_names: ['alpha'] } });
      assert.equal(res.status, 201);
      const done = await until(async () => {
        const list = await executionsOf(res.body.data.id);
        return list.length === 2 && list.every(terminal) && list;
      }, 'both alpha executions finish');
      assert.deepEqual(new Set(done.map((e) => e.node_id)), new Set(nodeIds.slice(0, 2)));
      for (const e of done) {
        assert.equal(e.status, 'completed');
        assert.equal(e.exit_code, 7);
        assert.match(e.output, /^hello from /);
        assert.equal(e.cluster_name, 'alpha');
      }
    });

    it('reports output with NUL bytes (`cat /proc/1/cmdline`), each shown as U+FFFD', async () => {
      const res = await runCommand({ command_text: "printf 'init\\0--foo\\0'; cat /proc/1/cmdline", targeting: { type: 'nodes', node_ids: [nodeIds[0]] } });
      assert.equal(res.status, 201);
      const [done] = await until(async () => {
        const list = await executionsOf(res.body.data.id);
        return list.length === 1 && list.every(terminal) && list;
      }, 'the execution finishes');
      assert.equal(done.status, 'completed');
      assert.equal(done.exit_code, 0);
      assert.ok(done.output.startsWith('init\uFFFD--foo\uFFFD'), done.output);
      assert.ok(!done.output.includes('\u0000'));
    });

    it('cancels a running command (143 → cancelled) and times out another (124)', async () => {
      const long = await runCommand({ command_text: 'sleep 30', targeting: { type: 'nodes', node_ids: [nodeIds[2]] } });
      const sent = await until(async () => {
        const [e] = await executionsOf(long.body.data.id);
        return e?.status === 'sent' && e;
      }, 'the long command is claimed');
      await sleep(300);
      const cancel = await server.api.patch(`/api/v1/command_executions/${sent.id}/cancel`);
      assert.equal(cancel.status, 200);
      assert.equal(cancel.body.data.result, 'cancellation request sent');
      const cancelled = await until(async () => {
        const [e] = await executionsOf(long.body.data.id);
        return e?.status === 'cancelled' && e;
      }, 'the agent reports the kill');
      assert.equal(cancelled.exit_code, 143);
      assert.equal(cancelled.output, 'Command cancelled');

      const slow = await runCommand({ command_text: 'echo started; sleep 30', timeout: 2_000, targeting: { type: 'nodes', node_ids: [nodeIds[2]] } });
      const timedOut = await until(async () => {
        const [e] = await executionsOf(slow.body.data.id);
        return e && terminal(e) && e;
      }, 'the timeout fires');
      assert.equal(timedOut.status, 'completed');
      assert.equal(timedOut.exit_code, 124);
      assert.equal(timedOut.output, 'started\nCommand timed out after 2000 milliseconds', 'the output so far is kept');
    });

    it('delivers a command to an offline agent when it comes back; expires what missed its deadline', async () => {
      const agent = agents[2]!;
      const nodeId = nodeIds[2]!;
      assert.equal(await agent.stop('SIGTERM'), 0);
      const later = await runCommand({ command_text: 'echo back', targeting: { type: 'nodes', node_ids: [nodeId] } });
      const doomed = await runCommand({
        command_text: 'echo never',
        expired_at: new Date(Date.now() + 1500).toISOString(),
        targeting: { type: 'nodes', node_ids: [nodeId] },
      });
      await until(async () => (await executionsOf(doomed.body.data.id))[0]?.status === 'expired', 'the missed command expires');
      assert.equal((await executionsOf(later.body.data.id))[0].status, 'pending');

      agent.start();
      const back = await until(
        async () => {
          const [e] = await executionsOf(later.body.data.id);
          return e?.status === 'completed' && e;
        },
        `delivered after the agent returned\n${agent.output}`,
        30_000,
      );
      assert.equal(back.output.trim(), 'back');
      assert.equal((await executionsOf(doomed.body.data.id))[0].status, 'expired', 'an expired execution never runs');
    });

    it('never runs an execution twice when the agent restarts mid-command', async () => {
      const agent = agents[0]!;
      const nodeId = nodeIds[0]!;
      const marker = path.join(agent.dataDir, `runs-${randomUUID()}`);
      const res = await runCommand({ command_text: `echo run >> ${marker}; sleep 2; echo done`, targeting: { type: 'nodes', node_ids: [nodeId] } });
      await until(async () => existsSync(marker), 'the command started');
      await agent.stop('SIGKILL');
      agent.start();
      const finished = await until(
        async () => {
          const [e] = await executionsOf(res.body.data.id);
          return e && terminal(e) && e;
        },
        `the interrupted execution is reported\n${agent.output}`,
        30_000,
      );
      await sleep(1500);
      assert.equal(readFileSync(marker, 'utf8'), 'run\n', 'the command ran exactly once');
      assert.equal(finished.status, 'completed');
      assert.equal(finished.exit_code, 137, 'reported as interrupted, not re-run');
    });
  });
}
