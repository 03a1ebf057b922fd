/**
 * The two commands as an operator meets them: `nodeplane serve` on a fresh data dir generates a
 * master key (file mode 0600, logged once, never again), `nodeplane migrate` applies migrations,
 * and TLS_CERT_FILE/TLS_KEY_FILE switch the listener to HTTPS.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, until, waitForExit } from '../helpers/processes.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/nodeplane.mjs');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-cli-'));
  dirs.push(dir);
  return dir;
};

async function serveOnce(env: Record<string, string>, check: (url: string) => Promise<void>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MASTER_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

  it('serves HTTPS with TLS_CERT_FILE and TLS_KEY_FILE', { skip: !process.env.PATH?.split(':').some((p) => { try { return statSync(path.join(p, 'openssl')).isFile(); } catch { return false; } }) && 'openssl is not installed' }, async () => {
    const dir = tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    await serveOnce({ DATA_DIR: dir, TLS_CERT_FILE: path.join(dir, 'cert.pem'), TLS_KEY_FILE: path.join(dir, 'key.pem') }, async (url) => {
      const status = await new Promise<number>((resolve, reject) => {
        https.get(`${url}/health`, { rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      assert.equal(status, 200);
    });
  });
});
