import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type AgentState, loadState, saveState, statePath } from './state.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-state-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const state: AgentState = {
  node_id: '0f5e3b8a-7c0e-4a44-9b1a-2f5c0d1e2a3b',
  network_name: 'cluster-prod',
  admin_urls: ['http://cp:1'],
  api_token: 'tok',
  proxy_password: 'pw',
  derp_map_url: null,
  join_ticket: null,
};

describe('agent state file', () => {
  it('is written with mode 0600 and read back unchanged', async () => {
    const dir = path.join(await tempDir(), 'nested', 'data');
    await saveState(dir, state);
    assert.equal((await stat(statePath(dir))).mode & 0o777, 0o600);
    // The data dir holds secrets too, so only the owner may list it.
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual(await loadState(dir), state);
  });

  it('stays 0600 when replacing a file that had looser permissions', async () => {
    const dir = await tempDir();
    await writeFile(statePath(dir), '{}', { mode: 0o644 });
    await saveState(dir, { ...state, api_token: 'rotated' });
    assert.equal((await stat(statePath(dir))).mode & 0o777, 0o600);
    assert.equal((await loadState(dir))?.api_token, 'rotated');
  });

  it('leaves no temp files behind', async () => {
    const dir = await tempDir();
    for (let i = 0; i < 5; i++) await saveState(dir, { ...state, api_token: `t${i}` });
    assert.deepEqual(await readdir(dir), ['state.json']);
    assert.equal(JSON.parse(await readFile(statePath(dir), 'utf8')).api_token, 't4');
  });

  it('is null when absent and refuses a file that is not agent state', async () => {
    const dir = await tempDir();
    assert.equal(await loadState(dir), null);
    await writeFile(statePath(dir), '{"node_id": 1}');
    await assert.rejects(loadState(dir), /does not hold a valid agent state/);
    await writeFile(statePath(dir), '{torn');
    await assert.rejects(loadState(dir), /not valid JSON/);
  });
});
