/**
 * telemt itself cannot be installed here: these tests check the TOML written and the process
 * handling with a stand-in script in place of the binary. Nothing here proves telemt accepts it.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { waitFor } from '../testing/test-support.ts';
import { renderTelemtToml, TelemtConfigError, telemtInstances, TelemtManager } from './telemt.ts';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-telemt-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const SECRET = 'b831381d63244d53ad4f8cda48b30811';
const instance = (users = [{ name: 'b831381d-6324-4d53-ad4f-8cda48b30811', secret: SECRET }]) => ({
  nodeProtocolId: 9,
  tag: 'np-9',
  port: 8443,
  listen: '0.0.0.0',
  publicHost: 'mt.example',
  publicPort: 443,
  tlsDomain: 'www.example.com',
  extraTlsDomains: ['cdn.example.com'],
  mask: true,
  useMiddleProxy: false,
  users,
});

describe('telemt config', () => {
  it('renders the keys of telemt CONFIG_PARAMS from the spec shape', () => {
    const { head, access } = renderTelemtToml(instance([{ name: 'u-1', secret: SECRET, enabled: false, dataQuotaBytes: 1000 } as never]));
    assert.match(head, /\[general\]\nuse_middle_proxy = false/);
    assert.match(head, /\[general\.modes\]\nclassic = false\nsecure = false\ntls = true/);
    assert.match(head, /\[general\.links\]\npublic_host = "mt\.example"\npublic_port = 443/);
    assert.match(head, /\[server\]\nport = 8443/);
    assert.match(head, /\[\[server\.listeners\]\]\nip = "0\.0\.0\.0"/);
    assert.match(head, /\[censorship\]\ntls_domain = "www\.example\.com"\ntls_domains = \["cdn\.example\.com"\]\nmask = true/);
    assert.equal(access, `[access.users]\n"u-1" = "${SECRET}"\n\n[access.user_enabled]\n"u-1" = false\n\n[access.user_data_quota]\n"u-1" = 1000\n`);
  });

  it('writes a server-rendered configToml as is', () => {
    const toml = '[server]\nport = 1\n\n[access.users]\n"a" = "00000000000000000000000000000000"\n';
    const { head, access } = renderTelemtToml({ ...instance(), configToml: toml });
    assert.equal(head + access, toml);
    assert.equal(access.startsWith('[access.users]'), true);
  });

  it('refuses what telemt would refuse: no users, a bad secret or name', () => {
    assert.throws(() => telemtInstances({ ...instance(), users: [] }), TelemtConfigError);
    assert.throws(() => telemtInstances(instance([{ name: 'x', secret: 'short' }])), /32 hex/);
    assert.throws(() => telemtInstances(instance([{ name: 'bad name', secret: SECRET }])), /name/);
    assert.deepEqual(telemtInstances(undefined), []);
    assert.equal(telemtInstances([instance(), instance()]).length, 2);
  });
});

describe('TelemtManager (stand-in binary)', () => {
  async function standIn(dir: string) {
    const log = path.join(dir, 'starts.log');
    const script = path.join(dir, 'fake-telemt');
    await writeFile(script, `#!/bin/sh\necho "$$ $1" >> ${log}\nexec sleep 600\n`);
    await chmod(script, 0o755);
    return { script, starts: async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean) };
  }

  it('only writes the config when no binary is configured', async () => {
    const dir = await tempDir();
    const manager = new TelemtManager({ dir, binary: null, logger });
    assert.deepEqual(await manager.apply(instance()), { instances: 1, served: false });
    const file = path.join(dir, 'telemt', 'np-9.toml');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /tls_domain = "www.example.com"/);
    await manager.apply(undefined);
    await assert.rejects(stat(file), /ENOENT/);
  });

  it('starts one process per instance, leaves it running for user changes, restarts it for others and after a crash', async () => {
    const dir = await tempDir();
    const { script, starts } = await standIn(dir);
    const manager = new TelemtManager({ dir, binary: script, logger });
    try {
      await manager.apply(instance());
      await waitFor(async () => (await starts()).length === 1, 'first start');
      await manager.apply(instance([{ name: 'other', secret: SECRET }]));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await starts()).length, 1, 'users-only change: telemt reloads [access] itself');
      assert.match(await readFile(path.join(dir, 'telemt', 'np-9.toml'), 'utf8'), /"other"/);
      await manager.apply({ ...instance(), port: 9443 });
      await waitFor(async () => (await starts()).length === 2, 'restart for a port change');
      const pid = Number((await starts())[1]!.split(' ')[0]);
      process.kill(pid, 'SIGKILL');
      await waitFor(async () => (await starts()).length === 3, 'restart after a crash', 5_000);
    } finally {
      await manager.stop();
    }
    const last = Number((await starts()).at(-1)!.split(' ')[0]);
    assert.throws(() => process.kill(last, 0));
  });
});
