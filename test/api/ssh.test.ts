import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSshPublicBlob, openSshPublicKey, sshString } from '../../src/agent/edge/ssh-keys.ts';
import { sshRepo } from '../../src/server/modules/ssh/ssh.repo.ts';
import { registerAgent, type RegisteredAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const ed25519 = () => openSshPublicKey(generateKeyPairSync('ed25519').publicKey, 'me@laptop');
const ecdsa = (namedCurve: string) => openSshPublicKey(generateKeyPairSync('ec', { namedCurve }).publicKey, 'ops@example.com');
const rsa = (modulusLength = 2048) => openSshPublicKey(generateKeyPairSync('rsa', { modulusLength }).publicKey, 'ci@deploy');
/** `<algorithm> <base64 of blob>` with an arbitrary blob. */
const withBlob = (algorithm: string, blob: Buffer) => `${algorithm} ${blob.toString('base64')} x@y`;

const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const engine of testEngines()) {
  describe(`SSH usernames and public keys API [${engine}]`, () => {
    let server: TestServer;
    let east: RegisteredAgent, east2: RegisteredAgent, west: RegisteredAgent;
    const createUsername = (nodeId: string, body: unknown) => server.api.post(`/api/v1/nodes/${nodeId}/ssh_usernames`, body);
    const createKey = (usernameId: string, body: unknown) => server.api.post(`/api/v1/ssh_usernames/${usernameId}/ssh_public_keys`, body);
    const list = async (path: string) => {
      const res = await server.api.get(path);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    const usernamesOf = async (query: string) => (await list(`/api/v1/ssh_usernames?${query}`)).data.map((u: any) => u.username);
    const keyNamesOf = async (query: string) => (await list(`/api/v1/ssh_public_keys?${query}`)).data.map((k: any) => k.key_name);
    const events = async () => {
      const rows = await server.ctx.database.db
        .selectFrom('events')
        .select('envelope')
        .where('type', '=', 'edge.ssh_username.verified')
        .orderBy('seq')
        .execute();
      return rows.map((r) => JSON.parse(r.envelope).data as Record<string, unknown>);
    };
    const rowCounts = async () => {
      const db = server.ctx.database.db;
      const users = await db
        .selectFrom('ssh_usernames')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      const keys = await db
        .selectFrom('ssh_public_keys')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return { users: Number(users.n), keys: Number(keys.n) };
    };

    before(async () => {
      server = await startServer(engine);
      const prodEast = await createCluster(server.api, { name: 'prod-east' });
      const prodWest = await createCluster(server.api, { name: 'prod-west' });
      east = await registerAgent(server.api, { cluster: prodEast });
      east2 = await registerAgent(server.api, { cluster: prodEast });
      west = await registerAgent(server.api, { cluster: prodWest });
    });
    after(() => server.stop());

    describe('usernames', () => {
      it('creates a username with a password and keys in one go: 201, location, keys shown, only has_password', async () => {
        const laptop = ed25519();
        const ci = rsa();
        const res = await createUsername(east.nodeId, {
          username: 'admin',
          password: 'MySecurePassword123!',
          public_keys: [
            { key_name: 'laptop', public_key: `  ${laptop}  ` },
            { key_name: 'ci', public_key: ci },
          ],
        });
        assert.equal(res.status, 201, res.text);
        const user = res.body.data;
        assert.equal(res.headers.get('location'), `/api/v1/ssh_usernames/${user.id}`);
        assert.deepEqual(Object.keys(user).sort(), ['has_password', 'id', 'inserted_at', 'node_id', 'public_keys', 'updated_at', 'username']);
        assert.match(user.id, UUID_V7);
        assert.equal(user.username, 'admin');
        assert.equal(user.has_password, true);
        assert.equal(user.node_id, east.nodeId);
        assert.match(user.inserted_at, ISO_SECONDS);
        assert.deepEqual(
          user.public_keys.map((k: any) => [k.key_name, k.public_key, k.ssh_username_id]),
          [
            ['laptop', laptop, user.id],
            ['ci', ci, user.id],
          ],
        );
        for (const key of user.public_keys) {
          assert.deepEqual(Object.keys(key).sort(), ['id', 'inserted_at', 'key_name', 'public_key', 'ssh_username_id', 'updated_at']);
        }
        assert.doesNotMatch(res.text, /argon2|MySecurePassword/);

        const got = await server.api.get(`/api/v1/ssh_usernames/${user.id}`);
        assert.equal(got.status, 200);
        assert.deepEqual(got.body.data, user);
        assert.doesNotMatch(got.text, /argon2|password_hash/);
        const listed = await server.api.get('/api/v1/ssh_usernames');
        assert.doesNotMatch(listed.text, /argon2|password_hash/);

        const stored = await server.ctx.database.db.selectFrom('ssh_usernames').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
        assert.match(stored.password_hash!, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/, 'an Argon2id PHC string');
      });

      it('creates a bare username (no password, no keys) and accepts explicit nulls', async () => {
        const res = await createUsername(east.nodeId, { username: 'deploy', password: null, public_keys: null });
        assert.equal(res.status, 201, res.text);
        assert.equal(res.body.data.has_password, false);
        assert.deepEqual(res.body.data.public_keys, []);
        const bare = await createUsername(west.nodeId, { username: '_svc-1' });
        assert.equal(bare.status, 201, bare.text);
      });

      it('keeps usernames unique per node (409) and allows the same name on another node', async () => {
        const taken = await createUsername(east.nodeId, { username: 'admin' });
        assert.equal(taken.status, 409);
        assert.deepEqual(taken.body.error, { code: 'conflict', message: 'username has already been taken' });
        const elsewhere = await createUsername(east2.nodeId, { username: 'admin', password: 'another-long-password' });
        assert.equal(elsewhere.status, 201);
        const west1 = await createUsername(west.nodeId, { username: 'admin' });
        assert.equal(west1.status, 201);
      });

      it('validates the body (400) and the node (400 malformed, 404 unknown)', async () => {
        const cases: Array<[unknown, Record<string, string[]>]> = [
          [{}, { username: ['Missing field: username'] }],
          [{ username: 'ab' }, { username: ['String length is smaller than minLength: 3'] }],
          [{ username: 'Admin' }, { username: ['Invalid format. Expected ~r/^[a-z_][a-z0-9_-]*$/'] }],
          [{ username: '1abc' }, { username: ['Invalid format. Expected ~r/^[a-z_][a-z0-9_-]*$/'] }],
          [{ username: 'a'.repeat(33) }, { username: ['String length is larger than maxLength: 32'] }],
          [{ username: 'okname', password: 'short' }, { password: ['String length is smaller than minLength: 12'] }],
          [{ username: 'okname', shell: '/bin/sh' }, { shell: ['Unexpected field: shell'] }],
        ];
        for (const [body, details] of cases) {
          const res = await createUsername(east.nodeId, body);
          assert.equal(res.status, 400, JSON.stringify(body));
          assert.equal(res.body.error.code, 'bad_request');
          for (const [field, messages] of Object.entries(details)) assert.deepEqual(res.body.error.details[field], messages, JSON.stringify(body));
        }
        assert.equal((await createUsername(east.nodeId, { username: 'okname', password: 'x'.repeat(129) })).status, 400);
        assert.equal((await createUsername(east.nodeId, { username: 'okname', public_keys: [{ key_name: 'a' }] })).status, 400);
        assert.equal((await createUsername(east.nodeId, { username: 'okname', public_keys: 'ssh-ed25519 AAAA' })).status, 400);
        assert.equal((await createUsername('not-a-uuid', { username: 'okname' })).status, 400);
        const missing = await createUsername(randomUUID(), { username: 'okname' });
        assert.equal(missing.status, 404);
        assert.deepEqual(missing.body.error, { code: 'not_found', message: 'Resource not found' });
        assert.equal((await server.api.withToken(null).post(`/api/v1/nodes/${east.nodeId}/ssh_usernames`, { username: 'okname' })).status, 401);
        assert.equal(
          (await server.api.withToken(east.apiToken).post(`/api/v1/nodes/${east.nodeId}/ssh_usernames`, { username: 'okname' })).status,
          401,
          'node tokens are not admin keys',
        );
      });

      it('rejects bad nested keys with 422 per key and stores nothing (atomic, unlike upstream)', async () => {
        const before = await rowCounts();
        const good = ed25519();
        const ed = generateKeyPairSync('ed25519').publicKey;
        const edBlob = openSshPublicBlob(ed).blob;
        const res = await createUsername(east.nodeId, {
          username: 'atomic',
          password: 'a-fine-password',
          public_keys: [
            { key_name: 'good', public_key: good },
            { key_name: 'dsa', public_key: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP x@y' },
            { key_name: 'b64', public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... ci@deploy' },
            { key_name: 'swapped', public_key: withBlob('ssh-rsa', edBlob) },
            { key_name: 'short', public_key: withBlob('ssh-ed25519', Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(31))])) },
            { key_name: '', public_key: good },
            { key_name: 'good', public_key: ecdsa('P-256') },
            { key_name: 'garbage', public_key: 'not a key at all' },
          ],
        });
        assert.equal(res.status, 422, res.text);
        assert.equal(res.body.error.code, 'validation_failed');
        assert.deepEqual(res.body.error.details, {
          public_keys: [
            'key 1: public_key invalid SSH key format',
            'key 2: public_key invalid base64 key data',
            'key 3: public_key key data is a ssh-ed25519 key, not ssh-rsa',
            'key 4: public_key invalid ssh-ed25519 key data',
            "key 5: key_name can't be blank",
            'key 6: key_name has already been taken',
            'key 7: public_key invalid SSH key format',
          ],
        });
        assert.deepEqual(await rowCounts(), before, 'neither the username nor the good key was stored');
        assert.deepEqual(await usernamesOf('username=atomic'), []);
        const retry = await createUsername(east.nodeId, { username: 'atomic', public_keys: [{ key_name: 'good', public_key: good }] });
        assert.equal(retry.status, 201, 'the name is still free');
      });

      it('rolls the username back when storing its keys fails inside the transaction', async () => {
        const before = await rowCounts();
        // The form checks catch every bad key up front; make the database step itself fail.
        const insertKeys = sshRepo.insertKeys;
        sshRepo.insertKeys = async () => {
          throw new Error('disk full');
        };
        try {
          const res = await createUsername(east.nodeId, {
            username: 'halfway',
            password: 'a-fine-password',
            public_keys: [{ key_name: 'a', public_key: ed25519() }],
          });
          assert.equal(res.status, 500);
          assert.deepEqual(res.body.error, { code: 'internal_server_error', message: 'Internal Server Error' });
        } finally {
          sshRepo.insertKeys = insertKeys;
        }
        assert.deepEqual(await rowCounts(), before);
        assert.deepEqual(await usernamesOf('username=halfway'), []);
      });

      it('deletes usernames and their keys with their node', async () => {
        const before = await rowCounts();
        const doomed = await registerAgent(server.api, { cluster: 'prod-west' });
        const res = await createUsername(doomed.nodeId, {
          username: 'twokeys',
          public_keys: [
            { key_name: 'a', public_key: ed25519() },
            { key_name: 'b', public_key: ecdsa('P-521') },
          ],
        });
        assert.equal(res.status, 201);
        assert.deepEqual(await rowCounts(), { users: before.users + 1, keys: before.keys + 2 });
        assert.equal((await server.api.delete(`/api/v1/nodes/${doomed.nodeId}`)).status, 204);
        assert.deepEqual(await rowCounts(), before);
        assert.equal((await server.api.get(`/api/v1/ssh_usernames/${res.body.data.id}`)).status, 404);
        assert.equal((await server.api.get(`/api/v1/ssh_public_keys/${res.body.data.public_keys[0].id}`)).status, 404);
      });

      it('gets and deletes a username; deleting cascades its keys; unknown ids 404, malformed 400', async () => {
        const created = await createUsername(west.nodeId, {
          username: 'temp',
          public_keys: [
            { key_name: 'k1', public_key: ed25519() },
            { key_name: 'k2', public_key: ecdsa('P-384') },
          ],
        });
        assert.equal(created.status, 201);
        const user = created.body.data;
        const del = await server.api.delete(`/api/v1/ssh_usernames/${user.id}`);
        assert.equal(del.status, 204);
        assert.equal(del.text, '');
        assert.equal((await server.api.get(`/api/v1/ssh_usernames/${user.id}`)).status, 404);
        for (const key of user.public_keys) assert.equal((await server.api.get(`/api/v1/ssh_public_keys/${key.id}`)).status, 404);
        assert.deepEqual(await keyNamesOf(`ssh_username_id=${user.id}`), []);
        assert.equal((await server.api.delete(`/api/v1/ssh_usernames/${user.id}`)).status, 404);
        assert.equal((await server.api.get(`/api/v1/ssh_usernames/${randomUUID()}`)).status, 404);
        assert.equal((await server.api.get('/api/v1/ssh_usernames/temp')).status, 400);
        assert.equal((await server.api.delete('/api/v1/ssh_usernames/temp')).status, 400);
      });
    });

    describe('public keys', () => {
      let owner: any;
      before(async () => {
        owner = (await createUsername(east2.nodeId, { username: 'keyholder' })).body.data;
      });

      it('adds keys of every supported algorithm: 201 with a location, the text kept as given (trimmed)', async () => {
        const keys = {
          ed: ed25519(),
          p256: ecdsa('P-256'),
          p384: ecdsa('P-384'),
          p521: ecdsa('P-521'),
          rsa2048: rsa(2048),
          rsa1024: rsa(1024),
          nocomment: openSshPublicKey(generateKeyPairSync('ed25519').publicKey),
        };
        for (const [name, publicKey] of Object.entries(keys)) {
          const res = await createKey(owner.id, { key_name: name, public_key: `${publicKey}\n` });
          assert.equal(res.status, 201, `${name}: ${res.text}`);
          const key = res.body.data;
          assert.equal(res.headers.get('location'), `/api/v1/ssh_public_keys/${key.id}`);
          assert.deepEqual(key, {
            id: key.id,
            public_key: publicKey,
            key_name: name,
            ssh_username_id: owner.id,
            inserted_at: key.inserted_at,
            updated_at: key.updated_at,
          });
          assert.deepEqual((await server.api.get(`/api/v1/ssh_public_keys/${key.id}`)).body.data, key);
        }
        const user = (await server.api.get(`/api/v1/ssh_usernames/${owner.id}`)).body.data;
        assert.deepEqual(
          user.public_keys.map((k: any) => k.key_name),
          Object.keys(keys),
          'oldest first on the username',
        );
      });

      it('refuses unsupported algorithms and malformed text by schema (400)', async () => {
        const cases = [
          'ssh-dss AAAAB3NzaC1kc3MAAACBAP x@y',
          'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAI x',
          'ecdsa-sha2-nistp192 AAAAE2VjZHNh',
          'ssh-ed25519',
          'ssh-ed25519 !!!!',
          ` ${ed25519()}`,
          '',
        ];
        for (const publicKey of cases) {
          const res = await createKey(owner.id, { key_name: 'bad', public_key: publicKey });
          assert.equal(res.status, 400, publicKey);
          assert.match(res.body.error.details.public_key[0], /^Invalid format/, publicKey);
        }
        assert.deepEqual((await createKey(owner.id, { public_key: ed25519() })).body.error.details, { key_name: ['Missing field: key_name'] });
        assert.equal((await createKey(owner.id, { key_name: '', public_key: ed25519() })).status, 400);
        assert.equal((await createKey(owner.id, { key_name: 'x'.repeat(256), public_key: ed25519() })).status, 400);
        assert.equal((await createKey(owner.id, { key_name: 'x', public_key: ed25519(), extra: 1 })).status, 400);
        assert.equal((await createKey('nope', { key_name: 'x', public_key: ed25519() })).status, 400);
      });

      it('answers a long hostile key line quickly (the pattern does not backtrack)', async () => {
        const started = Date.now();
        const res = await createKey(owner.id, { key_name: 'huge', public_key: `ssh-rsa ${'A'.repeat(1_000_000)}\nx\ny` });
        assert.equal(res.status, 400);
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      });

      it('decodes and parses the key: bad base64, mismatched or broken key data → 422', async () => {
        const ed = openSshPublicBlob(generateKeyPairSync('ed25519').publicKey).blob;
        const p256 = openSshPublicBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey).blob;
        const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
        const rsaBlob = openSshPublicBlob(rsaKey).blob;
        const point = p256.subarray(p256.length - 65);
        const offCurve = Buffer.from(point);
        offCurve[64]! ^= 1;
        const cases: Array<[string, string]> = [
          ['ssh-ed25519 AAAAC x', 'invalid base64 key data'],
          [
            `ssh-ed25519 ${Buffer.concat([ed, Buffer.from([0])])
              .toString('base64')
              .replace(/AA==$/, 'AB==')} x`,
            'invalid base64 key data',
          ],
          ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQw7Di3fBr2oc2vbZN5YLz8YpJ8PQb5bXwQwe+QgYX8=== x', 'invalid base64 key data'],
          [withBlob('ssh-rsa', ed), 'key data is a ssh-ed25519 key, not ssh-rsa'],
          [withBlob('ecdsa-sha2-nistp384', p256), 'key data is a ecdsa-sha2-nistp256 key, not ecdsa-sha2-nistp384'],
          [withBlob('ssh-ed25519', Buffer.from('hello world!')), 'invalid ssh-ed25519 key data'],
          [withBlob('ssh-ed25519', Buffer.concat([sshString(Buffer.from([0, 1, 2])), sshString(Buffer.alloc(32))])), 'key data is not a ssh-ed25519 key'],
          [withBlob('ssh-ed25519', Buffer.concat([ed, Buffer.from([0])])), 'invalid ssh-ed25519 key data'],
          [withBlob('ssh-ed25519', ed.subarray(0, ed.length - 1)), 'invalid ssh-ed25519 key data'],
          [
            withBlob('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp384'), sshString(point)])),
            'key data names another curve than nistp256',
          ],
          [
            withBlob('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(offCurve)])),
            'invalid ecdsa-sha2-nistp256 key data',
          ],
          [
            withBlob('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point.subarray(0, 33))])),
            'invalid ecdsa-sha2-nistp256 key data',
          ],
          [
            withBlob('ssh-rsa', Buffer.concat([sshString('ssh-rsa'), sshString(Buffer.from([1, 0, 1])), sshString(Buffer.from([0xff, 1, 2]))])),
            'invalid ssh-rsa key data',
          ],
          [
            withBlob(
              'ssh-rsa',
              Buffer.concat([sshString('ssh-rsa'), sshString(Buffer.from([2])), sshString(Buffer.concat([Buffer.from([0]), Buffer.alloc(256, 0xab)]))]),
            ),
            'invalid ssh-rsa key data',
          ],
          [rsa(512), 'ssh-rsa keys must have 1024 to 16384 bits, this one has 512'],
          [withBlob('ssh-rsa', rsaBlob.subarray(0, rsaBlob.length - 10)), 'invalid ssh-rsa key data'],
        ];
        for (const [publicKey, message] of cases) {
          const res = await createKey(owner.id, { key_name: 'bad', public_key: publicKey });
          assert.equal(res.status, 422, `${message}: ${res.text}`);
          assert.deepEqual(res.body.error, { code: 'validation_failed', message: 'Validation failed', details: { public_key: [message] } }, publicKey);
        }
        assert.deepEqual(await keyNamesOf(`ssh_username_id=${owner.id}&key_name=bad`), []);
        const blank = await createKey(owner.id, { key_name: '   ', public_key: ed25519() });
        assert.equal(blank.status, 422);
        assert.deepEqual(blank.body.error.details, { key_name: ["can't be blank"] });
      });

      it('keeps key names unique per username (409), not across usernames; unknown username 404', async () => {
        const first = await createKey(owner.id, { key_name: 'shared', public_key: ed25519() });
        assert.equal(first.status, 201);
        const taken = await createKey(owner.id, { key_name: 'shared', public_key: ed25519() });
        assert.equal(taken.status, 409);
        assert.deepEqual(taken.body.error, { code: 'conflict', message: 'key_name has already been taken' });
        const other = (await createUsername(east2.nodeId, { username: 'other' })).body.data;
        assert.equal((await createKey(other.id, { key_name: 'shared', public_key: ed25519() })).status, 201);
        const missing = await createKey(randomUUID(), { key_name: 'x', public_key: ed25519() });
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error.code, 'not_found');
      });

      it('deletes a key: 204, then 404; the username stays', async () => {
        const key = (await createKey(owner.id, { key_name: 'to-delete', public_key: ed25519() })).body.data;
        assert.equal((await server.api.delete(`/api/v1/ssh_public_keys/${key.id}`)).status, 204);
        assert.equal((await server.api.get(`/api/v1/ssh_public_keys/${key.id}`)).status, 404);
        assert.equal((await server.api.delete(`/api/v1/ssh_public_keys/${key.id}`)).status, 404);
        assert.equal((await server.api.delete('/api/v1/ssh_public_keys/1')).status, 400);
        assert.equal((await server.api.get(`/api/v1/ssh_usernames/${owner.id}`)).status, 200);
      });
    });

    describe('lists', () => {
      let fixtures: { alpha: any; beta: any; gamma: any };
      before(async () => {
        // A node in a cluster of their own, so the filters below see only these rows.
        await createCluster(server.api, { name: 'lab-north' });
        const labNode = await registerAgent(server.api, { cluster: 'lab-north' });
        const lab2Node = await registerAgent(server.api, { cluster: 'lab-north' });
        const alpha = (
          await createUsername(labNode.nodeId, {
            username: 'alpha',
            password: 'alpha-password-1',
            public_keys: [{ key_name: 'Work-Laptop', public_key: `${ed25519()}`.replace('me@laptop', 'alice@example.com') }],
          })
        ).body.data;
        await sleep(5);
        const beta = (
          await createUsername(labNode.nodeId, {
            username: 'beta',
            public_keys: [{ key_name: 'home', public_key: ecdsa('P-256').replace('ops@example.com', 'bob@corp.test') }],
          })
        ).body.data;
        await sleep(5);
        const gamma = (
          await createUsername(lab2Node.nodeId, {
            username: 'gamma-ops',
            password: 'gamma-password-1',
            public_keys: [{ key_name: 'work-desktop', public_key: rsa() }],
          })
        ).body.data;
        fixtures = { alpha, beta, gamma };
      });

      it('filters usernames by username, node_id, has_password and cluster_name; sorts and paginates', async () => {
        assert.deepEqual(await usernamesOf('cluster_name=lab-north'), ['gamma-ops', 'beta', 'alpha'], 'newest first by default');
        assert.deepEqual(await usernamesOf('cluster_name=LAB-*&order_by=username'), ['alpha', 'beta', 'gamma-ops']);
        assert.deepEqual(await usernamesOf('cluster_name=lab-north&order_by=username&order_directions=desc'), ['gamma-ops', 'beta', 'alpha']);
        assert.deepEqual(await usernamesOf('cluster_name=lab-north&order_by=node_id'), ['gamma-ops', 'beta', 'alpha'], 'unsortable field falls back');
        assert.deepEqual(await usernamesOf('cluster_name=lab-north&has_password=true&order_by=username'), ['alpha', 'gamma-ops']);
        assert.deepEqual(await usernamesOf('cluster_name=lab-north&has_password=false'), ['beta']);
        assert.deepEqual(await usernamesOf(`node_id=${fixtures.gamma.node_id}`), ['gamma-ops']);
        assert.deepEqual(await usernamesOf('username=alpha'), ['alpha']);
        assert.deepEqual(await usernamesOf('username=ALPHA'), [], 'exact match is case-sensitive');
        assert.deepEqual(await usernamesOf('username=*-OPS'), ['gamma-ops'], 'wildcards are case-insensitive');
        assert.deepEqual(await usernamesOf('username=alpha,beta&order_by=username'), ['alpha', 'beta']);
        assert.equal(
          (await list('/api/v1/ssh_usernames?cluster_name=lab-north,prod-east')).meta.pagination.total_count,
          (await list('/api/v1/ssh_usernames')).meta.pagination.total_count,
          'comma lists are ignored on the join',
        );
        const page = await list('/api/v1/ssh_usernames?cluster_name=lab-north&page_size=2&page=2');
        assert.deepEqual(page.meta.pagination, {
          page: 2,
          page_size: 2,
          total_count: 3,
          total_pages: 2,
          has_next: false,
          has_prev: true,
          next_page: null,
          prev_page: 1,
        });
        assert.deepEqual(
          page.data.map((u: any) => u.username),
          ['alpha'],
        );
        assert.deepEqual(
          page.data[0].public_keys.map((k: any) => k.key_name),
          ['Work-Laptop'],
          'keys are preloaded on lists',
        );
        const today = new Date().toISOString().slice(0, 10);
        assert.equal(
          (await list(`/api/v1/ssh_usernames?cluster_name=lab-north&inserted_at__gte=${today}&updated_at__lte=${today}`)).meta.pagination.total_count,
          3,
        );
        assert.equal((await list('/api/v1/ssh_usernames?cluster_name=lab-north&inserted_at__lte=2000-01-01')).meta.pagination.total_count, 0);
        for (const bad of ['node_id=abc', 'has_password=maybe', 'password=x', 'page_size=101', 'inserted_at__gte=yesterday']) {
          assert.equal((await server.api.get(`/api/v1/ssh_usernames?${bad}`)).status, 400, bad);
        }
        assert.equal((await server.api.withToken(null).get('/api/v1/ssh_usernames')).status, 401);
      });

      it('filters keys by key_name, public_key, ssh_username_id, node_id, username and cluster_name', async () => {
        assert.deepEqual(await keyNamesOf('cluster_name=lab-north&order_by=key_name'), ['Work-Laptop', 'home', 'work-desktop'].sort());
        assert.deepEqual(await keyNamesOf('key_name=work*&order_by=key_name'), ['Work-Laptop', 'work-desktop']);
        assert.deepEqual(await keyNamesOf('key_name=Work-Laptop'), ['Work-Laptop']);
        assert.deepEqual(await keyNamesOf('key_name=work-laptop'), []);
        assert.deepEqual(await keyNamesOf('public_key=*@example.com&cluster_name=lab-north'), ['Work-Laptop']);
        assert.deepEqual(await keyNamesOf('public_key=ecdsa-sha2-*&cluster_name=lab-*'), ['home']);
        assert.deepEqual(await keyNamesOf(`ssh_username_id=${fixtures.beta.id}`), ['home']);
        assert.deepEqual(await keyNamesOf(`node_id=${fixtures.alpha.node_id}&order_by=key_name&order_directions=desc`), ['home', 'Work-Laptop']);
        assert.deepEqual(await keyNamesOf('username=gamma-ops'), ['work-desktop']);
        assert.deepEqual(await keyNamesOf('username=*a&cluster_name=lab-north&order_by=inserted_at'), ['Work-Laptop', 'home']);
        assert.deepEqual(await keyNamesOf('cluster_name=nowhere'), []);
        const keys = await list('/api/v1/ssh_public_keys?cluster_name=lab-north');
        assert.equal(keys.meta.pagination.total_count, 3);
        assert.deepEqual(Object.keys(keys.data[0]).sort(), ['id', 'inserted_at', 'key_name', 'public_key', 'ssh_username_id', 'updated_at']);
        for (const bad of ['ssh_username_id=1', 'node_id=x', 'fingerprint=x', 'order_by=' + 'x'.repeat(501)]) {
          assert.equal((await server.api.get(`/api/v1/ssh_public_keys?${bad}`)).status, 400, bad);
        }
      });
    });

    describe('agent verification (§9.2)', () => {
      let user: any;
      let keyText: string;
      let nopass: any;
      before(async () => {
        keyText = ed25519();
        user = (
          await createUsername(west.nodeId, {
            username: 'operator',
            password: 'correct horse battery',
            public_keys: [{ key_name: 'main', public_key: keyText }],
          })
        ).body.data;
        nopass = (await createUsername(west.nodeId, { username: 'keysonly', public_keys: [{ key_name: 'main', public_key: ecdsa('P-521') }] })).body.data;
      });
      const verify = (agent: RegisteredAgent, body: unknown) => agent.client.post('/api/v1/agents/ssh_usernames/verify_credentials', body);

      it('verifies a password and a public key (comment and spacing ignored), always 200 {verified}', async () => {
        const before = (await events()).length;
        const ok = await verify(west, { username: 'operator', password: 'correct horse battery' });
        assert.equal(ok.status, 200);
        assert.deepEqual(ok.body.data, { verified: true });
        assert.deepEqual(Object.keys(ok.body.meta).sort(), ['request_id', 'timestamp']);
        const [algorithm, base64] = keyText.split(' ');
        for (const spelling of [keyText, `${algorithm} ${base64}`, `  ${algorithm}\t${base64}   other comment `]) {
          const res = await verify(west, { username: 'operator', public_key: spelling });
          assert.equal(res.status, 200);
          assert.deepEqual(res.body.data, { verified: true }, spelling);
        }
        const wrong: unknown[] = [
          { username: 'operator', password: 'correct horse battery!' },
          { username: 'operator', password: '' },
          { username: 'operator', public_key: ed25519() },
          { username: 'operator', public_key: `ssh-rsa ${base64}` },
          { username: 'operator', public_key: 'garbage' },
          { username: 'Operator', password: 'correct horse battery' },
          { username: 'keysonly', password: 'correct horse battery' },
          { username: 'nobody', password: 'correct horse battery' },
          { username: 'nobody', public_key: keyText },
        ];
        for (const body of wrong) {
          const res = await verify(west, body);
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.deepEqual(res.body.data, { verified: false }, JSON.stringify(body));
        }
        assert.equal((await events()).length, before + 1 + 3 + wrong.length, 'every attempt is recorded');
      });

      it('only looks at the calling node: a username of another node is refused', async () => {
        const east2Admin = await verify(east2, { username: 'operator', password: 'correct horse battery' });
        assert.deepEqual(east2Admin.body.data, { verified: false });
        assert.deepEqual((await verify(east, { username: 'operator', public_key: keyText })).body.data, { verified: false });
        const last = (await events()).at(-1)!;
        assert.deepEqual(
          { ...last, verified_at: 'x' },
          { ssh_username_id: null, node_id: null, cluster_name: null, username: 'operator', auth_method: 'unknown', result: 'failure', verified_at: 'x' },
        );
      });

      it('emits edge.ssh_username.verified with ids, cluster, method and result', async () => {
        await verify(west, { username: 'operator', password: 'correct horse battery' });
        await verify(west, { username: 'operator', public_key: ed25519() });
        await verify(west, { username: 'keysonly', password: 'whatever-password' });
        await verify(west, { username: 'ghost', public_key: keyText });
        const [a, b, c, d] = (await events()).slice(-4);
        assert.match(String(a!.verified_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        const strip = (e: Record<string, unknown>) => ({ ...e, verified_at: undefined });
        assert.deepEqual(strip(a!), {
          ssh_username_id: user.id,
          node_id: west.nodeId,
          cluster_name: 'prod-west',
          username: 'operator',
          auth_method: 'password',
          result: 'success',
          verified_at: undefined,
        });
        assert.deepEqual(strip(b!), {
          ssh_username_id: user.id,
          node_id: west.nodeId,
          cluster_name: 'prod-west',
          username: 'operator',
          auth_method: 'public_key',
          result: 'failure',
          verified_at: undefined,
        });
        assert.deepEqual(strip(c!), {
          ssh_username_id: nopass.id,
          node_id: west.nodeId,
          cluster_name: 'prod-west',
          username: 'keysonly',
          auth_method: 'password',
          result: 'failure',
          verified_at: undefined,
        });
        assert.deepEqual(strip(d!), {
          ssh_username_id: null,
          node_id: null,
          cluster_name: null,
          username: 'ghost',
          auth_method: 'unknown',
          result: 'failure',
          verified_at: undefined,
        });
        const envelope = JSON.parse(
          (
            await server.ctx.database.db
              .selectFrom('events')
              .select('envelope')
              .where('type', '=', 'edge.ssh_username.verified')
              .orderBy('seq', 'desc')
              .executeTakeFirstOrThrow()
          ).envelope,
        );
        assert.equal(envelope.specversion, '1.0');
        assert.equal(envelope.source, 'https://github.com/wenet-ec/edge-core');
        assert.doesNotMatch(JSON.stringify(envelope), /argon2|correct horse/);
      });

      it('needs exactly one credential (422 on base), a username (400) and the node token (401); records nothing then', async () => {
        const before = (await events()).length;
        const neither = await verify(west, { username: 'operator' });
        assert.equal(neither.status, 422);
        assert.deepEqual(neither.body.error, {
          code: 'validation_failed',
          message: 'Validation failed',
          details: { base: ['either password or public_key is required'] },
        });
        const nulls = await verify(west, { username: 'operator', password: null, public_key: null });
        assert.equal(nulls.status, 422);
        const both = await verify(west, { username: 'operator', password: 'correct horse battery', public_key: keyText });
        assert.equal(both.status, 422);
        assert.deepEqual(both.body.error.details, { base: ['give either password or public_key, not both'] });
        const noUser = await verify(west, { password: 'correct horse battery' });
        assert.equal(noUser.status, 400);
        assert.deepEqual(noUser.body.error.details, { username: ['Missing field: username'] });
        assert.equal((await verify(west, { username: 'operator', password: 42 })).status, 400);
        const extra = await verify(west, { username: 'operator', password: 'correct horse battery', client_version: 'x' });
        assert.deepEqual(extra.body.data, { verified: true }, 'agent routes tolerate unknown fields');
        const anonymous = await server.api
          .withToken(null)
          .post('/api/v1/agents/ssh_usernames/verify_credentials', { username: 'operator', password: 'correct horse battery' });
        assert.equal(anonymous.status, 401);
        const admin = await server.api.post('/api/v1/agents/ssh_usernames/verify_credentials', { username: 'operator', password: 'correct horse battery' });
        assert.equal(admin.status, 401, 'admin keys are not node tokens');
        assert.equal((await events()).length, before + 1, 'only the one valid attempt was recorded');
      });

      it('stops verifying keys and passwords once they are deleted', async () => {
        const temp = (
          await createUsername(west.nodeId, { username: 'shortlived', password: 'shortlived-password', public_keys: [{ key_name: 'k', public_key: keyText }] })
        ).body.data;
        assert.deepEqual((await verify(west, { username: 'shortlived', public_key: keyText })).body.data, { verified: true });
        assert.equal((await server.api.delete(`/api/v1/ssh_public_keys/${temp.public_keys[0].id}`)).status, 204);
        assert.deepEqual((await verify(west, { username: 'shortlived', public_key: keyText })).body.data, { verified: false });
        assert.deepEqual((await verify(west, { username: 'shortlived', password: 'shortlived-password' })).body.data, { verified: true });
        assert.equal((await server.api.delete(`/api/v1/ssh_usernames/${temp.id}`)).status, 204);
        assert.deepEqual((await verify(west, { username: 'shortlived', password: 'shortlived-password' })).body.data, { verified: false });
      });
    });
  });
}
