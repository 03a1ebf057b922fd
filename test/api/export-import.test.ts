/**
 * Export and import (issue 13, manager spec §5.6 extended): a fleet built through the API on one
 * engine is exported, imported into a fresh instance on the other engine, and compared through the
 * API; imports are idempotent, dry runs store nothing, encrypted exports carry the secrets that keep
 * nodes authenticating, and bad documents or callers are refused without storing anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { databaseSnapshot } from '../helpers/snapshot.ts';
import { type ApiClient, startServer, type TestServer, testEngines } from '../helpers/server.ts';
import { createOperator, login } from '../helpers/operators.ts';
import { createProtocol, createSubscription, createUser, NodeClient, registeredNode } from '../helpers/vpn-admin.ts';

const PASSPHRASE = 'correct horse battery staple';
// Imported nodes must keep the status they were exported with while a test compares snapshots.
const QUIET = { NODE_UNREACHABLE_AFTER_MS: '86400000', CORE_NODE_OFFLINE_AFTER_MS: '86400000' };

async function buildFleet(api: ApiClient) {
  const cluster = await createCluster(api);
  const agent = await registerAgent(api, { cluster });
  const labelled = await api.patch(`/api/v1/fleet/${agent.nodeId}`, { labels: { site: 'fra' } });
  assert.equal(labelled.status, 200, labelled.text);
  const core = await registeredNode(api);
  const vless = await createProtocol(api, core.node.id, { protocol: 'vless', port: 443 });
  const ss = await createProtocol(api, core.node.id, { protocol: 'shadowsocks', port: 8388, ss_method: 'aes-256-gcm' });
  const user = await createUser(api);
  const subscription = await createSubscription(api, user.id, { node_protocol_ids: [vless.id, ss.id] });
  const webhook = await api.post('/api/v1/webhooks', {
    url: 'https://hooks.example.test/edge',
    secret: 'w'.repeat(40),
    subscribed_events: ['edge.node.registered'],
  });
  assert.equal(webhook.status, 201, webhook.text);
  const operator = await createOperator(api, { role: 'operator', allowed_node_ids: [agent.nodeId] });
  const saved = await api.put('/api/v1/settings', { settings: { events_retention_days: 45, max_login_attempts: 7 } });
  assert.equal(saved.status, 200, saved.text);
  return { cluster, agent, core, subscription, operator };
}

/** What an operator sees of a plane, through the API. */
async function view(api: ApiClient) {
  const data = async (path: string) => {
    const res = await api.get(path);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    return res.body.data as Array<Record<string, unknown>>;
  };
  const strip = (rows: Array<Record<string, unknown>>, ...keys: string[]) =>
    rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !keys.includes(k))));
  return {
    clusters: await data('/api/v1/clusters'),
    fleet: strip(await data('/api/v1/fleet?page_size=100'), 'status', 'kind_status', 'last_seen_at'),
    vpnUsers: await data('/api/v1/vpn/users'),
    subscriptions: strip(await data('/api/v1/vpn/subscriptions'), 'online', 'online_at'),
    webhooks: await data('/api/v1/webhooks'),
    // Each instance bootstraps its own `admin`; the imported one is skipped.
    operators: strip(await data('/api/v1/users?page_size=100'), 'last_login_at').filter((u) => u.username !== 'admin'),
    settings: (await api.get('/api/v1/settings')).body.data,
  };
}

const exportPlain = async (api: ApiClient) => {
  const res = await api.get('/api/v1/export');
  assert.equal(res.status, 200, res.text);
  return res.body;
};

const exportEncrypted = async (api: ApiClient) => {
  const res = await api.post('/api/v1/export', { passphrase: PASSPHRASE });
  assert.equal(res.status, 200, res.text);
  return res.body;
};

const subDocument = async (server: TestServer, link: string) => {
  const res = await fetch(`${server.url}/sub/${link}`);
  assert.equal(res.status, 200, `/sub/${link}`);
  return Buffer.from(await res.text(), 'base64').toString('utf8');
};

const engines = testEngines();
// SQLite → Postgres (and back) when both engines are here; SQLite → SQLite otherwise.
const pairs = engines.length > 1 ? [engines, [...engines].reverse()] : [[engines[0]!, engines[0]!]];

for (const [from, to] of pairs) {
  describe(`export and import (${from} → ${to})`, () => {
    let source: TestServer;
    let fleet: Awaited<ReturnType<typeof buildFleet>>;

    before(async () => {
      source = await startServer(from!, QUIET);
      fleet = await buildFleet(source.api);
    });
    after(async () => source.stop());

    it('a plain export holds the spec keys and the fleet, and no secret, hash or token', async () => {
      const doc = await exportPlain(source.api);
      assert.equal(doc.version, 1);
      assert.equal(doc.exported_by, 'master-key');
      for (const key of [
        'users',
        'nodes',
        'settings',
        'config_templates',
        'clusters',
        'inventory',
        'vpn_users',
        'vpn_subscriptions',
        'core_nodes',
        'webhooks',
      ]) {
        assert.ok(Array.isArray(doc.data[key]), key);
      }
      assert.equal(doc.data.secrets, undefined);
      assert.deepEqual(doc.data.nodes.map((n: { id: string }) => n.id).sort(), [fleet.agent.nodeId, fleet.core.node.id].sort());
      const text = JSON.stringify(doc);
      for (const secret of [fleet.agent.apiToken, fleet.agent.proxyPassword, fleet.core.authKey, 'w'.repeat(40)]) assert.ok(!text.includes(secret));
      assert.ok(!/_enc"|(token|password|secret|auth_key)_hash"|"key":/.test(text), 'no sealed value, secret hash or enrollment key blob');
      const withEvents = await source.api.get('/api/v1/export?include_events=true&events_days=1&include_audit=true');
      assert.equal(withEvents.status, 200);
      assert.ok(withEvents.body.data.events.some((e: { type: string }) => e.type === 'edge.node.registered'));
      const audited = withEvents.body.data.audit_log.map((entry: { action: string; actor_id: string }) => `${entry.actor_id} ${entry.action}`);
      assert.ok(audited.includes('master cluster.create'), audited.join(', '));
    });

    it('imports into a fresh instance: the same fleet and subscription documents; a second import and a dry run change nothing', async () => {
      const target = await startServer(to!, QUIET);
      try {
        const doc = await exportPlain(source.api);
        const before = await databaseSnapshot(target);
        const dry = await target.api.post('/api/v1/import', { document: doc, dry_run: true });
        assert.equal(dry.status, 200, dry.text);
        assert.equal(dry.body.data.dry_run, true);
        assert.equal(dry.body.data.created.vpn_subscriptions, 1);
        assert.equal(await databaseSnapshot(target), before, 'a dry run stores nothing');

        const first = await target.api.post('/api/v1/import', { document: doc });
        assert.equal(first.status, 200, first.text);
        assert.deepEqual(first.body.data.created, dry.body.data.created, 'the dry run predicted the import');
        assert.deepEqual(first.body.data.unchanged, {});
        assert.equal(first.body.data.skipped.enrollment_keys, 1, 'a plain document restores no enrollment key');
        assert.deepEqual(await view(target.api), await view(source.api));
        // Without secrets the Shadowsocks password is new; the links derived from the link UUID are the same.
        const vlessLinks = async (server: TestServer) =>
          (await subDocument(server, fleet.subscription.link_uuid)).split('\n').filter((l) => l.startsWith('vless://'));
        assert.deepEqual(await vlessLinks(target), await vlessLinks(source));

        const snapshot = await databaseSnapshot(target);
        const second = await target.api.post('/api/v1/import', { document: doc });
        assert.equal(second.status, 200, second.text);
        assert.deepEqual(second.body.data.created, {});
        assert.deepEqual(second.body.data.unchanged, first.body.data.created);
        assert.equal(await databaseSnapshot(target), snapshot, 'the second import changed nothing');

        // Without a password hash, an imported operator cannot sign in until a super_admin resets it.
        assert.equal((await login(target.api, fleet.operator.username, fleet.operator.password)).status, 401);
        // Without its secrets, an edge node cannot authenticate until it re-registers.
        assert.equal((await target.api.withToken(fleet.agent.apiToken).get('/api/v1/agents/command_executions?status=pending')).status, 401);
      } finally {
        await target.stop();
      }
    });

    it('an encrypted export keeps the edge agent, the Core node and the subscription credentials working on the new instance', async () => {
      const target = await startServer(to!, QUIET);
      try {
        const sealed = await exportEncrypted(source.api);
        assert.equal(sealed.encrypted.kdf, 'scrypt');
        assert.ok(!JSON.stringify(sealed).includes(fleet.agent.apiToken));

        const before = await databaseSnapshot(target);
        const wrong = await target.api.post('/api/v1/import', { document: sealed, passphrase: 'not the passphrase at all' });
        assert.equal(wrong.status, 400, wrong.text);
        assert.equal(wrong.body.error.code, 'bad_request');
        assert.equal(await databaseSnapshot(target), before, 'a wrong passphrase stores nothing');

        const imported = await target.api.post('/api/v1/import', { document: sealed, passphrase: PASSPHRASE });
        assert.equal(imported.status, 200, imported.text);
        assert.equal(imported.body.data.with_secrets, true);
        assert.equal(imported.body.data.created.enrollment_keys, 1);

        const agentOnTarget = target.api.withToken(fleet.agent.apiToken);
        assert.equal((await agentOnTarget.get('/api/v1/agents/command_executions?status=pending')).status, 200, 'the edge agent authenticates');
        const coreOnTarget = new NodeClient(target.api, fleet.core.authKey);
        assert.equal((await coreOnTarget.get('/config/latest')).status, 200, 'the Core node auth key is valid');
        assert.equal(
          await subDocument(target, fleet.subscription.link_uuid),
          await subDocument(source, fleet.subscription.link_uuid),
          'the same links, Shadowsocks included',
        );

        const signedIn = await login(target.api, fleet.operator.username, fleet.operator.password);
        assert.equal(signedIn.status, 200, 'the operator signs in with their password');
        assert.deepEqual(signedIn.body.user.allowed_node_ids, [fleet.agent.nodeId]);

        const again = await target.api.post('/api/v1/import', { document: sealed, passphrase: PASSPHRASE });
        assert.equal(again.status, 200, again.text);
        assert.deepEqual(again.body.data.created, {});
      } finally {
        await target.stop();
      }
    });
  });
}

for (const engine of engines) {
  describe(`export and import refusals (${engine})`, () => {
    let server: TestServer;
    let document: Record<string, any>;

    before(async () => {
      server = await startServer(engine, { API_KEY: 'admin-api-key-for-backup-tests' });
      const other = await startServer(engine);
      try {
        await buildFleet(other.api);
        document = await exportPlain(other.api);
      } finally {
        await other.stop();
      }
    });
    after(async () => server.stop());

    it('an admin (API_KEY) gets 403 on export and import', async () => {
      const admin = server.api.withToken('admin-api-key-for-backup-tests');
      assert.equal((await admin.get('/api/v1/export')).status, 403);
      assert.equal((await admin.post('/api/v1/export', { passphrase: PASSPHRASE })).status, 403);
      assert.equal((await admin.post('/api/v1/import', { document })).status, 403);
    });

    it('a malformed or hostile document is a 400 in the admin envelope and stores nothing', async () => {
      const before = await databaseSnapshot(server);
      const clone = () => structuredClone(document);
      const nul = clone();
      nul.data.vpn_users[0].username = 'evil\u0000user';
      const dangling = clone();
      dangling.data.vpn_subscriptions[0].user_id = 999_999;
      const duplicate = clone();
      duplicate.data.clusters.push({ ...duplicate.data.clusters[0] });
      const badJson = clone();
      badJson.data.inventory[0].labels = '{not json';
      const smuggled = clone();
      smuggled.data.secrets = { users: [] };
      for (const [what, body] of [
        ['NUL byte', { document: nul }],
        ['dangling reference', { document: dangling }],
        ['duplicate row', { document: duplicate }],
        ['JSON column that does not parse', { document: badJson }],
        ['secrets in a plain document', { document: smuggled }],
        ['unknown version', { document: { ...clone(), version: 2 } }],
        [
          'encrypted without a passphrase',
          {
            document: {
              version: 1,
              encrypted: { kdf: 'scrypt', N: 1024, r: 8, p: 1, salt: 'AA==', cipher: 'aes-256-gcm', nonce: 'AA==', tag: 'AA==', ciphertext: 'AA==' },
            },
          },
        ],
        [
          'damaged envelope',
          {
            document: {
              version: 1,
              encrypted: {
                kdf: 'scrypt',
                N: 1000,
                r: 8,
                p: 1,
                salt: 'AA==',
                cipher: 'aes-256-gcm',
                nonce: 'AAAAAAAAAAAAAAAA',
                tag: 'AAAAAAAAAAAAAAAAAAAAAA==',
                ciphertext: 'AA==',
              },
            },
            passphrase: PASSPHRASE,
          },
        ],
      ] as const) {
        const res = await server.api.post('/api/v1/import', body);
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.ok(res.body.error?.code, what);
      }
      assert.equal(await databaseSnapshot(server), before);
    });

    it('a target that already holds other rows is refused with 409, nothing stored', async () => {
      await createCluster(server.api);
      const before = await databaseSnapshot(server);
      const res = await server.api.post('/api/v1/import', { document });
      assert.equal(res.status, 409, res.text);
      assert.ok(res.body.error.details.clusters);
      assert.equal(await databaseSnapshot(server), before);
    });
  });
}
