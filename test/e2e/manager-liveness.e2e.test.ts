/**
 * Manager fleet liveness and metrics over real wss://: a node whose session was held by an instance
 * that crashed (SIGKILL, no release) goes offline once silent past the offline threshold, with the
 * manager's critical `connection` event and `manager.node.disconnected`, while a node held by a live
 * instance stays online; and the hub's Prometheus series move on /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bilbycastEdge } from '../helpers/bilbycast-edge.ts';
import type { BilbycastNode, ManagerBlock } from '../helpers/bilbycast-node.ts';
import { freePort, ServerProcess, until } from '../helpers/processes.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { managerRepo } from '../../src/server/modules/manager/manager.repo.ts';

const OFFLINE_AFTER_MS = 1500;
/** Fast membership, so a killed instance counts as dead within a second or so. */
const FLEET_ENV = { INSTANCE_HEARTBEAT_MS: '200', INSTANCE_TTL_MS: '1000', NODE_UNREACHABLE_AFTER_MS: String(OFFLINE_AFTER_MS) };

/** The value of one Prometheus sample (0 when the series does not exist yet). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

for (const engine of testEngines()) {
  describe(`manager liveness and metrics [${engine}]`, () => {
    let live: TestServer;
    let crashing: ServerProcess;
    let crashingWss: string;
    const running: BilbycastNode[] = [];
    const secretKey = randomBytes(32).toString('base64');

    const createNode = async () => {
      const res = await live.managerApi.post('/api/v1/nodes', { name: `node-${Math.random().toString(36).slice(2, 8)}` });
      assert.equal(res.status, 201, res.text);
      return res.body as { id: string; registration_token: string };
    };
    const connectTo = async (url: string, manager: Partial<ManagerBlock>, timings = {}) => {
      const edge = bilbycastEdge({ urls: [url], ca: live.managerCert, ...manager }, timings);
      running.push(edge);
      return { edge, reply: await edge.connect() };
    };
    const statusOf = async (id: string) => (await live.managerApi.get(`/api/v1/nodes/${id}`)).body.status as string;
    const metrics = async () => {
      const res = await live.api.get('/metrics');
      assert.equal(res.status, 200);
      return res.text;
    };

    before(async () => {
      live = await startServer(engine, { ...FLEET_ENV, NODEPLANE_SECRET_KEY: secretKey });
      const managerPort = await freePort();
      crashing = await ServerProcess.create(engine, {
        ...FLEET_ENV,
        DATABASE_URL: live.databaseUrl,
        NODEPLANE_SECRET_KEY: secretKey,
        MANAGER_PORT: String(managerPort),
        MANAGER_HOST: '127.0.0.1',
        MANAGER_TLS_CERT_FILE: path.join(live.dataDir, 'manager-cert.pem'),
        MANAGER_TLS_KEY_FILE: path.join(live.dataDir, 'manager-key.pem'),
      });
      crashingWss = `wss://127.0.0.1:${managerPort}/ws/node`;
    });
    after(async () => {
      for (const edge of running) await edge.stop();
      await crashing?.destroy();
      await live?.stop();
    });

    it('takes offline a node held by a crashed instance, and keeps a silent node a live instance holds', async () => {
      const liveWss = `${live.managerUrl.replace('https', 'wss')}/ws/node`;
      // Silent after its first health: only its live holder keeps it online.
      const quiet = await createNode();
      const hour = 3_600_000;
      assert.deepEqual((await connectTo(liveWss, { registration_token: quiet.registration_token }, { statsIntervalMs: hour, healthIntervalMs: hour })).reply, {
        type: 'register_ack',
      });
      await until(async () => (await statusOf(quiet.id)) === 'online', 'the quiet node online');

      const orphan = await createNode();
      const { edge, reply } = await connectTo(crashingWss, { registration_token: orphan.registration_token }, { statsIntervalMs: 200, reconnectDelayMs: hour });
      assert.deepEqual(reply, { type: 'register_ack' });
      await until(async () => (await statusOf(orphan.id)) === 'online', 'the orphan online');

      await crashing.kill('SIGKILL');
      await edge.stop();
      await until(async () => (await statusOf(orphan.id)) === 'offline', 'the orphan offline', 30_000);

      const connection = (await managerRepo.eventsOf(live.ctx.database.db, orphan.id)).filter((e) => e.category === 'connection');
      assert.deepEqual(
        connection.map((e) => [e.severity, e.message]),
        [
          ['critical', 'Node disconnected from manager'],
          ['info', 'Node connected to manager'],
        ],
      );
      const outbox = await live.ctx.database.db.selectFrom('events').select('envelope').where('type', '=', 'manager.node.disconnected').execute();
      assert.equal(outbox.filter((row) => row.envelope.includes(orphan.id)).length, 1);
      const fleet = await live.api.get(`/api/v1/fleet/${orphan.id}`);
      assert.equal(fleet.body.data.status, 'offline');

      // Its last_seen_at is older than the orphan's, so every pass that took the orphan judged it too.
      await live.ctx.scheduler.tick('manager.sweep-orphaned-sessions');
      assert.equal(await statusOf(quiet.id), 'online');
      assert.equal((await managerRepo.eventsOf(live.ctx.database.db, quiet.id)).filter((e) => e.severity === 'critical').length, 0);
    });

    it('counts sessions, frames by type, oversize drops and auth failures on /metrics', async () => {
      const before = await metrics();
      const node = await createNode();
      const liveWss = `${live.managerUrl.replace('https', 'wss')}/ws/node`;
      const { edge } = await connectTo(liveWss, { registration_token: node.registration_token }, { statsIntervalMs: 100 });
      const wrong = await connectTo(liveWss, { node_id: node.id, node_secret: 'not-the-secret' });
      assert.deepEqual(wrong.reply, { type: 'auth_error', message: 'Invalid node secret' });
      edge.send('no_such_type', {});
      edge.sendRaw(JSON.stringify({ type: 'event', timestamp: new Date().toISOString(), payload: { message: 'y'.repeat(6 * 1024 * 1024) } }));

      const after = await until(async () => {
        const text = await metrics();
        const moved =
          sample(text, 'nodeplane_manager_frames_received_total{type="stats"}') > sample(before, 'nodeplane_manager_frames_received_total{type="stats"}') &&
          sample(text, 'nodeplane_manager_frames_received_total{type="other"}') > sample(before, 'nodeplane_manager_frames_received_total{type="other"}') &&
          sample(text, 'nodeplane_manager_frames_dropped_oversize_total') > sample(before, 'nodeplane_manager_frames_dropped_oversize_total');
        return moved ? text : undefined;
      }, 'the frame counters to move');
      assert.ok(sample(after, 'nodeplane_manager_sessions_connected') >= 1);
      assert.equal(
        sample(after, 'nodeplane_manager_auth_failures_total{reason="invalid_secret"}'),
        sample(before, 'nodeplane_manager_auth_failures_total{reason="invalid_secret"}') + 1,
      );
      assert.equal(sample(after, 'nodeplane_manager_frames_received_total{type="no_such_type"}'), 0);

      const sessions = sample(after, 'nodeplane_manager_sessions_connected');
      await edge.stop();
      await until(async () => sample(await metrics(), 'nodeplane_manager_sessions_connected') === sessions - 1, 'the session gauge to drop');
    });
  });
}
