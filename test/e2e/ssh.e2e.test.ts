/**
 * SSH end to end with Debian's OpenSSH client: a real server, a real `nodeplane agent` process whose
 * embedded SSH server checks every login with the control plane, and `/usr/bin/ssh` logging in with
 * a key and with a password. A wrong key, a wrong password and a username of another node are
 * refused. A second part runs the SSH feature in-process to look at what a process hides: metrics,
 * the host key file, ptys, window changes and environment requests.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import ssh2 from 'ssh2';
import { AgentMetrics } from '../../src/agent/edge/agent-metrics.ts';
import { ApiClient as AgentApiClient } from '../../src/agent/edge/api-client.ts';
import { loadAgentConfig, type AgentConfig } from '../../src/agent/shared/config.ts';
import type { AgentRuntime } from '../../src/agent/edge/features.ts';
import { openSshEd25519PrivateKey, openSshPublicKey } from '../../src/agent/edge/ssh-keys.ts';
import { HOST_KEY_FILE, SshServerFeature } from '../../src/agent/edge/ssh-server.ts';
import { StreamClient } from '../../src/agent/edge/stream.ts';
import { registerAgent } from '../helpers/agents.ts';
import { createCluster } from '../helpers/factories.ts';
import { AgentProcess, freePort, until } from '../helpers/processes.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';

const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const missing = [SSH, SSH_KEYGEN].filter((p) => !existsSync(p));
const skip = missing.length ? `needs the OpenSSH client (${missing.join(', ')} missing): apt-get install openssh-client` : false;

interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs Debian's ssh client against 127.0.0.1:port; `input` is written to its stdin. */
function runSsh(port: number, args: string[], options: { env?: Record<string, string>; input?: string; knownHosts?: string } = {}): Promise<SshResult> {
  const hostKeys = options.knownHosts
    ? ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${options.knownHosts}`]
    : ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
  const base = ['-F', '/dev/null', '-p', String(port), ...hostKeys, '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];
  return new Promise((resolve, reject) => {
    const child = spawn(SSH, [...base, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A key pair made by ssh-keygen in `dir`: the private key path and the public key line. */
function keygen(dir: string, name: string): { file: string; publicKey: string } {
  const file = path.join(dir, name);
  execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@e2e`, '-f', file]);
  return { file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** An SSH_ASKPASS program that answers `password`. */
function askpass(dir: string, name: string, password: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' '${password}'\n`);
  chmodSync(file, 0o755);
  return file;
}

const keyLogin = (key: string) => ['-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey'];
const passwordLogin = (askpassFile: string) => ({
  args: ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1'],
  env: { SSH_ASKPASS: askpassFile, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
});

async function verifiedEvents(server: TestServer) {
  const rows = await server.ctx.database.db.selectFrom('events').select('envelope').where('type', '=', 'edge.ssh_username.verified').orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.envelope).data as Record<string, unknown>);
}

for (const engine of testEngines()) {
  describe(`SSH through a real agent process and the OpenSSH client [${engine}]`, { skip }, () => {
    let server: TestServer;
    let agent: AgentProcess;
    let dir: string;
    let port: number;
    let nodeId: string;
    let alice: { file: string; publicKey: string };
    let stranger: { file: string; publicKey: string };
    let bobKey: { file: string; publicKey: string };

    before(async () => {
      server = await startServer(engine);
      dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-ssh-e2e-'));
      await createCluster(server.api, { name: 'edge' });
      port = await freePort();
      nodeId = randomUUID();
      const key = (await server.api.post('/api/v1/clusters/edge/enrollment_keys', {})).body.data.key;
      agent = new AgentProcess({
        NODEPLANE_SERVER_URL: server.url,
        NODEPLANE_AGENT_NODE_ID: nodeId,
        NODEPLANE_AGENT_SSH_PORT: String(port),
        NODEPLANE_AGENT_SSH_HOST: '127.0.0.1',
        NODEPLANE_AGENT_HTTP_PORT: String(await freePort()),
      });
      agent.start(['--enrollment-key', key]);
      await until(async () => (await server.api.get(`/api/v1/nodes/${nodeId}`)).status === 200, `node registered\n${agent.output}`);
      await until(async () => agent.output.includes('ssh server listening'), `ssh server listening\n${agent.output}`);

      alice = keygen(dir, 'alice');
      stranger = keygen(dir, 'stranger');
      bobKey = keygen(dir, 'bob');
      const created = await server.api.post(`/api/v1/nodes/${nodeId}/ssh_usernames`, {
        username: 'alice',
        password: 'alice-secret-password',
        public_keys: [{ key_name: 'laptop', public_key: alice.publicKey }],
      });
      assert.equal(created.status, 201, created.text);
      // bob exists, with a key and a password, but on another node of the same cluster.
      const other = await registerAgent(server.api, { cluster: 'edge' });
      const bob = await server.api.post(`/api/v1/nodes/${other.nodeId}/ssh_usernames`, {
        username: 'bob',
        password: 'bob-secret-password1',
        public_keys: [{ key_name: 'laptop', public_key: bobKey.publicKey }],
      });
      assert.equal(bob.status, 201, bob.text);
    });
    after(async () => {
      await agent?.destroy();
      await server?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('logs in with a key: runs the command, prints its output and returns its exit status', async () => {
      const before = (await verifiedEvents(server)).length;
      const res = await runSsh(port, [...keyLogin(alice.file), 'alice@127.0.0.1', 'echo hello; echo oops >&2; exit 3']);
      assert.equal(res.code, 3, res.stderr);
      assert.equal(res.stdout, 'hello\n');
      assert.equal(res.stderr, 'oops\n');
      const events = (await verifiedEvents(server)).slice(before);
      assert.ok(events.length >= 1);
      assert.deepEqual(
        { ...events.at(-1), verified_at: undefined },
        {
          ssh_username_id: events.at(-1)!.ssh_username_id,
          node_id: nodeId,
          cluster_name: 'edge',
          username: 'alice',
          auth_method: 'public_key',
          result: 'success',
          verified_at: undefined,
        },
      );
    });

    it('runs the command with /bin/sh as the agent user and names the Nodeplane identity', async () => {
      const res = await runSsh(port, [...keyLogin(alice.file), 'alice@127.0.0.1', 'echo "$NODEPLANE_SSH_USER $(id -un) $0"; read line; echo "got $line"'], {
        input: 'from stdin\n',
      });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, `alice ${execFileSync('id', ['-un']).toString().trim()} /bin/sh\ngot from stdin\n`);
    });

    it('logs in with a password given through SSH_ASKPASS', async () => {
      const login = passwordLogin(askpass(dir, 'right-password', 'alice-secret-password'));
      const res = await runSsh(port, [...login.args, 'alice@127.0.0.1', 'echo password-ok'], { env: login.env });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, 'password-ok\n');
      const last = (await verifiedEvents(server)).at(-1)!;
      assert.equal(last.auth_method, 'password');
      assert.equal(last.result, 'success');
    });

    it('refuses a key that is not registered for the user', async () => {
      const res = await runSsh(port, [...keyLogin(stranger.file), 'alice@127.0.0.1', 'echo should-not-run']);
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Permission denied/);
      assert.equal(res.stdout, '');
    });

    it('refuses a wrong password', async () => {
      const login = passwordLogin(askpass(dir, 'wrong-password', 'not-the-password'));
      const res = await runSsh(port, [...login.args, 'alice@127.0.0.1', 'echo should-not-run'], { env: login.env });
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Permission denied/);
      const last = (await verifiedEvents(server)).at(-1)!;
      assert.deepEqual([last.username, last.auth_method, last.result], ['alice', 'password', 'failure']);
    });

    it('refuses a username that belongs to another node, with its right key and password', async () => {
      const byKey = await runSsh(port, [...keyLogin(bobKey.file), 'bob@127.0.0.1', 'echo should-not-run']);
      assert.equal(byKey.code, 255);
      assert.match(byKey.stderr, /Permission denied/);
      const login = passwordLogin(askpass(dir, 'bob-password', 'bob-secret-password1'));
      const byPassword = await runSsh(port, [...login.args, 'bob@127.0.0.1', 'echo should-not-run'], { env: login.env });
      assert.equal(byPassword.code, 255);
      assert.match(byPassword.stderr, /Permission denied/);
      const last = (await verifiedEvents(server)).at(-1)!;
      assert.deepEqual(
        { ...last, verified_at: undefined },
        { ssh_username_id: null, node_id: null, cluster_name: null, username: 'bob', auth_method: 'unknown', result: 'failure', verified_at: undefined },
      );
    });

    it("refuses alice's key for another username on the same node, and keyboard-interactive", async () => {
      assert.equal((await server.api.post(`/api/v1/nodes/${nodeId}/ssh_usernames`, { username: 'carol' })).status, 201);
      const res = await runSsh(port, [...keyLogin(alice.file), 'carol@127.0.0.1', 'true']);
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Permission denied/);
      const kbd = await runSsh(port, ['-o', 'BatchMode=yes', '-o', 'PreferredAuthentications=keyboard-interactive', 'alice@127.0.0.1', 'true']);
      assert.equal(kbd.code, 255);
      assert.match(kbd.stderr, /Permission denied \(publickey,password\)/);
    });

    it('stops accepting a key as soon as it is deleted through the Admin API', async () => {
      const user = (await server.api.get(`/api/v1/ssh_usernames?node_id=${nodeId}&username=alice`)).body.data[0];
      assert.equal((await server.api.delete(`/api/v1/ssh_public_keys/${user.public_keys[0].id}`)).status, 204);
      const res = await runSsh(port, [...keyLogin(alice.file), 'alice@127.0.0.1', 'echo should-not-run']);
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Permission denied/);
    });
  });

  describe(`SSH server feature in-process [${engine}]`, { skip }, () => {
    let server: TestServer;
    let dataDir: string;
    let feature: SshServerFeature;
    let runtime: AgentRuntime;
    let port: number;
    let userKey: { file: string; publicKey: string };
    const ed = generateKeyPairSync('ed25519');

    const startFeature = async (config: AgentConfig) => {
      feature = new SshServerFeature({ maxAuthFailures: 3 });
      runtime = { ...runtime, config };
      await feature.start(runtime);
    };

    before(async () => {
      server = await startServer(engine);
      dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-ssh-feature-'));
      await createCluster(server.api, { name: 'lab' });
      const node = await registerAgent(server.api, { cluster: 'lab' });
      userKey = keygen(dataDir, 'user');
      const created = await server.api.post(`/api/v1/nodes/${node.nodeId}/ssh_usernames`, {
        username: 'ops',
        public_keys: [
          { key_name: 'cli', public_key: userKey.publicKey },
          { key_name: 'lib', public_key: openSshPublicKey(ed.publicKey, 'ssh2-client') },
        ],
      });
      assert.equal(created.status, 201, created.text);
      port = await freePort();
      const config = loadAgentConfig(
        [],
        { NODEPLANE_AGENT_DATA_DIR: dataDir, NODEPLANE_AGENT_SSH_PORT: String(port), NODEPLANE_AGENT_SSH_HOST: '127.0.0.1' },
        '/',
      ) as AgentConfig;
      const log = pino({ level: 'silent' });
      const api = new AgentApiClient({ baseUrl: server.url, token: node.apiToken });
      runtime = {
        config,
        log,
        metrics: new AgentMetrics(),
        stream: new StreamClient({ baseUrl: server.url, token: () => node.apiToken, logger: log }),
        api,
        nodeId: node.nodeId,
        signal: new AbortController().signal,
      };
      await startFeature(config);
    });
    after(async () => {
      await feature?.stop();
      await server?.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('keeps its Ed25519 host key in the data dir (0600) and reuses it after a restart', async () => {
      const file = path.join(dataDir, HOST_KEY_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const pem = readFileSync(file, 'utf8');
      assert.match(pem, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
      // A client that trusts only this key (derived from the file by ssh-keygen) must get in, also after a restart.
      const knownHosts = path.join(dataDir, 'known_hosts');
      writeFileSync(knownHosts, `[127.0.0.1]:${port} ${execFileSync(SSH_KEYGEN, ['-y', '-f', file]).toString().trim()}\n`);
      const strict = async () => runSsh(port, [...keyLogin(userKey.file), 'ops@127.0.0.1', 'echo trusted'], { knownHosts });
      assert.equal((await strict()).stdout, 'trusted\n');
      await feature.stop();
      await startFeature(runtime.config);
      assert.equal(readFileSync(file, 'utf8'), pem);
      const again = await strict();
      assert.equal(again.stdout, 'trusted\n', again.stderr);
      writeFileSync(knownHosts, `[127.0.0.1]:${port} ${openSshPublicKey(generateKeyPairSync('ed25519').publicKey)}\n`);
      const impostor = await strict();
      assert.equal(impostor.code, 255);
      assert.match(impostor.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    });

    it('counts connections and successful authentications in the agent metrics', async () => {
      const value = async (counter: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await counter.get()).values[0]?.value ?? 0;
      const connections = await value(runtime.metrics.sshConnections);
      const authentications = await value(runtime.metrics.sshAuthentications);
      assert.equal((await runSsh(port, [...keyLogin(userKey.file), 'ops@127.0.0.1', 'true'])).code, 0);
      assert.equal((await runSsh(port, [...keyLogin(userKey.file), 'nobody@127.0.0.1', 'true'])).code, 255);
      assert.equal(await value(runtime.metrics.sshConnections), connections + 2);
      assert.equal(await value(runtime.metrics.sshAuthentications), authentications + 1);
      const text = await runtime.metrics.text();
      assert.match(text, /^nodeplane_agent_ssh_connections_total \d+/m);
      assert.match(text, /^nodeplane_agent_ssh_authentications_total \d+/m);
    });

    it('gives a shell on a pty, with env requests applied', async () => {
      const res = await runSsh(port, [...keyLogin(userKey.file), '-tt', '-o', 'SetEnv=GREETING=hi-there', 'ops@127.0.0.1'], {
        input: 'tty; echo "env:$GREETING:$TERM"; exit 7\n',
      });
      assert.equal(res.code, 7, res.stderr);
      assert.match(res.stdout, /\/dev\/pts\/\d+/);
      assert.match(res.stdout, /env:hi-there:\S+/);
    });

    it('runs a command on a pty when asked (ssh -t) and still returns its exit status', async () => {
      const res = await runSsh(port, [...keyLogin(userKey.file), '-tt', 'ops@127.0.0.1', 'tty; exit 9']);
      assert.equal(res.code, 9, res.stderr);
      assert.match(res.stdout, /^\/dev\/pts\/\d+\r\n/);
    });

    it('accepts RSA (rsa-sha2-512 signatures) and ECDSA keys made by ssh-keygen', async () => {
      const ops = (await server.api.get('/api/v1/ssh_usernames?username=ops')).body.data[0];
      for (const [name, type] of [
        ['rsa', ['-t', 'rsa', '-b', '3072']],
        ['p256', ['-t', 'ecdsa', '-b', '256']],
        ['p521', ['-t', 'ecdsa', '-b', '521']],
      ] as const) {
        const file = path.join(dataDir, `key-${name}`);
        execFileSync(SSH_KEYGEN, ['-q', ...type, '-N', '', '-C', name, '-f', file]);
        const added = await server.api.post(`/api/v1/ssh_usernames/${ops.id}/ssh_public_keys`, {
          key_name: name,
          public_key: readFileSync(`${file}.pub`, 'utf8'),
        });
        assert.equal(added.status, 201, added.text);
        const res = await runSsh(port, [...keyLogin(file), 'ops@127.0.0.1', `echo ${name}`]);
        assert.equal(res.code, 0, `${name}: ${res.stderr}`);
        assert.equal(res.stdout, `${name}\n`);
      }
    });

    it('runs a non-pty shell reading commands from stdin', async () => {
      const res = await runSsh(port, [...keyLogin(userKey.file), '-T', 'ops@127.0.0.1'], { input: 'echo piped; exit 4\n' });
      assert.equal(res.code, 4, res.stderr);
      assert.equal(res.stdout, 'piped\n');
    });

    it('resizes the pty on window-change and forwards signals (ssh2 client)', async () => {
      const client = new ssh2.Client();
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve()).once('error', reject);
        client.connect({ host: '127.0.0.1', port, username: 'ops', privateKey: openSshEd25519PrivateKey(ed.privateKey) });
      });
      try {
        const output = await new Promise<string>((resolve, reject) => {
          client.shell({ rows: 30, cols: 100, term: 'xterm' }, (error, stream) => {
            if (error) return reject(error);
            let out = '';
            stream.on('data', (d: Buffer) => (out += d));
            stream.on('close', () => resolve(out));
            const waitFor = (text: string) => until(async () => out.includes(text), `"${text}" in ${JSON.stringify(out)}`, 10_000);
            (async () => {
              // The pty echoes input; `$((…))` makes the command's own output differ from that echo.
              stream.write('stty size; echo mark-$((40+1))\n');
              await waitFor('mark-41\r\n');
              stream.setWindow(50, 132, 0, 0);
              await new Promise((r) => setTimeout(r, 300));
              stream.write('stty size; echo mark-$((40+2))\n');
              await waitFor('mark-42\r\n');
              stream.write('exit\n');
            })().catch(reject);
          });
        });
        assert.match(output, /30 100\r\n/);
        assert.match(output, /50 132\r\n/);

        const signalled = await new Promise<{ code: unknown; signal: unknown }>((resolve, reject) => {
          client.exec('echo started; sleep 30', (error, stream) => {
            if (error) return reject(error);
            stream.on('data', (d: Buffer) => {
              if (d.toString().includes('started')) stream.signal('TERM');
            });
            stream.on('exit', (code: unknown, signal: unknown) => resolve({ code, signal }));
          });
        });
        assert.deepEqual(signalled, { code: null, signal: 'SIGTERM' }, 'exit-signal TERM (ssh2 adds the SIG prefix)');
      } finally {
        client.end();
      }
    });

    it('drops a connection after too many failed attempts, and refuses when the control plane is unreachable', async () => {
      const login = passwordLogin(askpass(dataDir, 'bad', 'definitely-wrong'));
      const before = (await verifiedEvents(server)).length;
      const res = await runSsh(
        port,
        ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=5', 'ops@127.0.0.1', 'true'],
        { env: login.env },
      );
      assert.equal(res.code, 255);
      assert.match(res.stderr, /disconnect|closed|Connection reset/i, 'the server hung up before the client ran out of prompts');
      assert.equal((await verifiedEvents(server)).length - before, 3, 'three attempts (maxAuthFailures), not five');

      await feature.stop();
      const deadPort = await freePort();
      runtime = { ...runtime, api: new AgentApiClient({ baseUrl: `http://127.0.0.1:${deadPort}`, token: 'x', timeoutMs: 2000 }) };
      await startFeature(runtime.config);
      const refused = await runSsh(port, [...keyLogin(userKey.file), 'ops@127.0.0.1', 'echo should-not-run']);
      assert.equal(refused.code, 255);
      assert.match(refused.stderr, /Permission denied/);
    });

    it('does not listen when disabled', async () => {
      await feature.stop();
      const disabled = loadAgentConfig(
        [],
        { NODEPLANE_AGENT_DATA_DIR: dataDir, NODEPLANE_AGENT_SSH_PORT: String(port), NODEPLANE_AGENT_SSH_ENABLED: 'false' },
        '/',
      ) as AgentConfig;
      await startFeature(disabled);
      assert.equal(feature.address(), null);
      const res = await runSsh(port, [...keyLogin(userKey.file), 'ops@127.0.0.1', 'true']);
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Connection refused/);
    });
  });
}
