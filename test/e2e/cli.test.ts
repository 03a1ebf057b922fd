/**
 * The two commands as an operator meets them: `nodeplane serve` on a fresh data dir generates a
 * master key (file mode 0600, logged once, never again), `nodeplane migrate` applies migrations,
 * TLS_CERT_FILE/TLS_KEY_FILE switch the listener to HTTPS, enrollment keys name an address other
 * machines can reach, and every subcommand parses its flags strictly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeEnrollmentKey } from '../../src/agent/shared/enrollment-key.ts';
import { createCluster } from '../helpers/factories.ts';
import { freePort, until, waitForExit } from '../helpers/processes.ts';
import { ApiClient } from '../helpers/server.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/nodeplane.mjs');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-cli-'));
  dirs.push(dir);
  return dir;
};

async function serveOnce(env: Record<string, string>, check: (url: string) => Promise<void>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: String(port), MANAGER_PORT: '0', HOST: '127.0.0.1', MASTER_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const scheme = env.TLS_CERT_FILE ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  try {
    await until(async () => output.includes('Nodeplane is serving'), `server start\n${output}`);
    await check(url);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await waitForExit(child), 0, 'SIGTERM shuts down cleanly');
  }
  return output;
}

/** Runs the command to its end; a command that does not end on its own (a server) is killed and fails. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = tempDir();
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, PORT: String(port), MANAGER_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  try {
    return { code: await waitForExit(child, 60_000), stdout, stderr };
  } catch {
    child.kill('SIGKILL');
    await waitForExit(child).catch(() => {});
    return { code: null, stdout, stderr: `${stderr}\n(still running after 60 s: killed)` };
  }
}

async function enrollmentKeyUrls(url: string, masterKey: string): Promise<string[]> {
  const api = new ApiClient(url, masterKey);
  const cluster = await createCluster(api);
  const created = await api.post(`/api/v1/clusters/${cluster.name}/enrollment_keys`, { uses_remaining: 1 });
  assert.equal(created.status, 201, created.text);
  return decodeEnrollmentKey(created.body.data.key).adminUrls;
}

const LOOPBACK = /^https?:\/\/(127\.|localhost|\[::1\])/;

describe('the nodeplane command', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('serve on a fresh data dir generates the master key once, stores it 0600, and the key works', async () => {
    const dataDir = tempDir();
    const first = await serveOnce({ DATA_DIR: dataDir }, async (url) => {
      const key = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
      const res = await fetch(`${url}/api/v1/clusters`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 200);
    });
    const key = readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim();
    assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dataDir, 'secret.key')).mode & 0o777, 0o600);
    assert.ok(first.includes(key), 'the generated key is logged on the first start');
    assert.match(first, /master\.key/);

    const second = await serveOnce({ DATA_DIR: dataDir }, async () => {});
    assert.ok(!second.includes(key), 'and never again');
    assert.equal(readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim(), key, 'the key is kept');
  });

  it('migrate applies the migrations and is idempotent', () => {
    const dataDir = tempDir();
    const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' };
    const first = execFileSync(process.execPath, [BIN, 'migrate'], { env, encoding: 'utf8' });
    assert.match(first, /applied: 0001_foundation/);
    const again = execFileSync(process.execPath, [BIN, 'migrate'], { env, encoding: 'utf8' });
    assert.match(again, /up to date/);
  });

  it(
    'serves HTTPS with TLS_CERT_FILE and TLS_KEY_FILE',
    {
      skip:
        !process.env.PATH?.split(':').some((p) => {
          try {
            return statSync(path.join(p, 'openssl')).isFile();
          } catch {
            return false;
          }
        }) && 'openssl is not installed',
    },
    async () => {
      const dir = tempDir();
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-keyout',
          path.join(dir, 'key.pem'),
          '-out',
          path.join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      await serveOnce({ DATA_DIR: dir, TLS_CERT_FILE: path.join(dir, 'cert.pem'), TLS_KEY_FILE: path.join(dir, 'key.pem') }, async (url) => {
        const status = await new Promise<number>((resolve, reject) => {
          https
            .get(`${url}/health`, { rejectUnauthorized: false }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', reject);
        });
        assert.equal(status, 200);
      });
    },
  );

  for (const command of ['serve', 'migrate', 'agent']) {
    it(`${command} --help prints its usage and exits 0 without doing anything`, async () => {
      const { code, stdout, stderr } = await runCli([command, '--help']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, new RegExp(`^usage: nodeplane ${command}`));
      assert.doesNotMatch(stdout + stderr, /Nodeplane is serving|applied|database is up to date/);
    });

    it(`${command} refuses an unknown flag with exit 2 and names it`, async () => {
      const { code, stdout, stderr } = await runCli([command, '--verbose']);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /Unknown option '--verbose'/);
      assert.doesNotMatch(stdout + stderr, /Nodeplane is serving|applied|database is up to date/);
    });
  }

  it('help and --help print the commands; an unknown command or a stray argument is exit 2', async () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const { code, stdout } = await runCli(args);
      assert.equal(code, 0);
      assert.match(stdout, /usage: nodeplane <command>/);
      assert.match(stdout, /serve .*\n.*migrate .*\n.*agent /s);
    }
    const unknown = await runCli(['sevre']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command: sevre/);
    const stray = await runCli(['migrate', 'now']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /Unexpected argument 'now'/);
  });

  it('listening on 0.0.0.0, enrollment keys send agents to an address other machines can reach', async () => {
    const masterKey = `cli-${Date.now()}`;
    let urls: string[] = [];
    const output = await serveOnce({ DATA_DIR: tempDir(), HOST: '0.0.0.0', MASTER_KEY: masterKey }, async (url) => {
      urls = await enrollmentKeyUrls(url, masterKey);
    });
    assert.equal(urls.length, 1);
    assert.doesNotMatch(urls[0]!, LOOPBACK);
    assert.doesNotMatch(urls[0]!, /0\.0\.0\.0/);
    assert.doesNotMatch(output, /loopback/);
  });

  it('with a loopback admin URL, serve warns at start that other machines cannot use it', async () => {
    const masterKey = `cli-${Date.now()}`;
    let urls: string[] = [];
    const output = await serveOnce({ DATA_DIR: tempDir(), HOST: '127.0.0.1', MASTER_KEY: masterKey }, async (url) => {
      urls = await enrollmentKeyUrls(url, masterKey);
    });
    assert.match(urls[0]!, LOOPBACK);
    const warning = output.split('\n').find((line) => line.includes('loopback'));
    assert.ok(warning, `no loopback warning in:\n${output}`);
    assert.match(warning, /"level":40/, 'logged as a warning');
    assert.match(warning, /ADMIN_URLS/);
  });
});
