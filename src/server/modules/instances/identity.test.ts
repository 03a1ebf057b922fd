import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AdminNaming, adminHostId, INSTANCE_ID_FILE, loadInstanceId } from './identity.ts';

describe('admin instance identity', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nodeplane-identity-'));
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('creates a 12-char base32 id in a 0600 file on first start and reuses it after', () => {
    const dir = tempDir();
    const id = loadInstanceId(dir);
    assert.match(id, /^[a-z2-7]{12}$/);
    const file = path.join(dir, INSTANCE_ID_FILE);
    assert.equal(readFileSync(file, 'utf8').trim(), id);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(loadInstanceId(dir), id);
    assert.notEqual(loadInstanceId(tempDir()), id);
  });

  it('creates the data dir when it does not exist yet', () => {
    const dir = path.join(tempDir(), 'nested', 'data');
    const id = loadInstanceId(dir);
    assert.equal(loadInstanceId(dir), id);
  });

  it('reads an id written by an operator and refuses a corrupt file instead of replacing it', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, INSTANCE_ID_FILE), 'abcdefgh2345\n');
    assert.equal(loadInstanceId(dir), 'abcdefgh2345');
    writeFileSync(path.join(dir, INSTANCE_ID_FILE), 'NOT-AN-ID');
    assert.throws(() => loadInstanceId(dir), /12-character lowercase base32/);
    assert.equal(readFileSync(path.join(dir, INSTANCE_ID_FILE), 'utf8'), 'NOT-AN-ID');
  });

  it('derives a stable RFC 9562 v5 host id per admin name', () => {
    const a = adminHostId('admin-abcdefgh2345');
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(adminHostId('admin-abcdefgh2345'), a);
    assert.notEqual(adminHostId('admin-abcdefgh2346'), a);
  });

  it('names admins inside the admin cluster, with or without a VPN domain', () => {
    const naming = new AdminNaming('main', 'nm.internal');
    assert.equal(naming.clusterName, 'admin-cluster-main');
    assert.equal(naming.vpnHostname('admin-k7m3n2p9x4j6'), 'admin-k7m3n2p9x4j6.admin-cluster-main.nm.internal');
    assert.equal(naming.erlangNodeName('admin-k7m3n2p9x4j6'), 'admin@admin-k7m3n2p9x4j6.admin-cluster-main.nm.internal');
    assert.equal(new AdminNaming('1', '').vpnHostname('admin-k7m3n2p9x4j6'), 'admin-k7m3n2p9x4j6.admin-cluster-1');
  });
});
