/**
 * Operators from the command line: `nodeplane operators create | reset-password` (strict flags,
 * complexity, generated or stdin passwords, reset ends sessions) and the first operator that
 * `nodeplane serve` creates on an empty database (password file 0600, logged once).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, until, waitForExit } from '../helpers/processes.ts';
import { ApiClient, startServer } from '../helpers/server.ts';
import { login, loginAs } from '../helpers/operators.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/nodeplane.mjs');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-ops-'));
  dirs.push(dir);
  return dir;
};

async function run(args: string[], dataDir: string, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', MASTER_KEY: '', LOG_LEVEL: 'silent' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(stdin ?? '');
  return { code: await waitForExit(child, 60_000), stdout, stderr };
}

describe('nodeplane operators', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('parses its flags strictly', async () => {
    const dir = tempDir();
    const help = await run(['operators', '--help'], dir);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /reset-password/);
    for (const args of [
      ['operators', 'create', '--username', 'a', '--role', 'admin', '--bogus'],
      ['operators', 'create', '--role', 'admin'],
      ['operators', 'create', '--username', 'a', '--role', 'root'],
      ['operators', 'create', '--username', '-x', '--role', 'admin'],
      ['operators', 'reset-password', '--username', 'a', '--role', 'admin'],
      ['operators', 'frobnicate'],
    ]) {
      const res = await run(args, dir);
      assert.equal(res.code, 2, `${args.join(' ')}\n${res.stderr}`);
    }
  });

  it('creates an operator (generated or stdin password, complexity enforced) and resets a password, ending sessions', async () => {
    const dir = tempDir();
    const weak = await run(['operators', 'create', '--username', 'ops', '--role', 'admin', '--password-stdin'], dir, 'alllowercase1\n');
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /upper case/);

    const created = await run(['operators', 'create', '--username', 'ops', '--role', 'admin', '--display-name', 'Ops team'], dir);
    assert.equal(created.code, 0, created.stderr);
    const password = /password: (\S+)/.exec(created.stdout)![1]!;
    const duplicate = await run(['operators', 'create', '--username', 'ops', '--role', 'viewer'], dir);
    assert.equal(duplicate.code, 1);

    const server = await startServer('sqlite', {}, { databaseUrl: `sqlite:${path.join(dir, 'nodeplane.db')}` });
    try {
      const session = await loginAs(server.api, 'ops', password);
      const me = await session.get('/api/v1/auth/me');
      assert.equal(me.body.data.role, 'admin');
      assert.equal(me.body.data.display_name, 'Ops team');

      const reset = await run(['operators', 'reset-password', '--username', 'ops', '--password-stdin'], dir, 'New-Secret-42\n');
      assert.equal(reset.code, 0, reset.stderr);
      assert.doesNotMatch(reset.stdout, /New-Secret-42/);
      assert.equal((await session.get('/api/v1/clusters')).status, 401);
      assert.equal((await login(server.api, 'ops', 'New-Secret-42')).status, 200);
      assert.equal((await run(['operators', 'reset-password', '--username', 'nobody'], dir)).code, 1);
    } finally {
      await server.stop();
    }
  });

  it('serve creates the first super_admin on an empty database, its generated password in a 0600 file, logged once', async () => {
    const dir = tempDir();
    const serveOnce = async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [BIN, 'serve'], {
        env: {
          ...process.env,
          DATA_DIR: dir,
          DATABASE_URL: '',
          MASTER_KEY: '',
          PORT: String(port),
          MANAGER_PORT: '0',
          HOST: '127.0.0.1',
          OPERATOR_USERNAME: 'root',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      try {
        await until(async () => output.includes('Nodeplane is serving'), `server start\n${output}`);
        const file = path.join(dir, 'operator-password');
        const password = readFileSync(file, 'utf8').trim();
        const res = await login(new ApiClient(`http://127.0.0.1:${port}`, null), 'root', password);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.user.role, 'super_admin');
        return { output, password, mode: statSync(file).mode & 0o777 };
      } finally {
        child.kill('SIGTERM');
        assert.equal(await waitForExit(child), 0);
      }
    };
    const first = await serveOnce();
    assert.equal(first.mode, 0o600);
    assert.ok(first.output.includes(first.password), 'logged on the first start');
    const second = await serveOnce();
    assert.equal(second.password, first.password);
    assert.ok(!second.output.includes(first.password), 'not logged again');
  });
});
