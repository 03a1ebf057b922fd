import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { IDENTITY_FILE, normaliseMachineId, readMachineId, resolveIdentity } from './identity.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-agent-id-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('machine id normalisation', () => {
  it('turns a systemd machine-id into UUID form', () => {
    assert.equal(normaliseMachineId('4c4c4544004d3510804bb4c04f4e3632\n'), '4c4c4544-004d-3510-804b-b4c04f4e3632');
  });

  it('lower-cases a DMI product_uuid and keeps its grouping', () => {
    assert.equal(normaliseMachineId('EC2A1B3C-0D4E-5F60-7182-93A4B5C6D7E8'), 'ec2a1b3c-0d4e-5f60-7182-93a4b5c6d7e8');
  });

  it('rejects what is not 32 hex digits, and firmware placeholders', () => {
    for (const bad of [
      '',
      'uninitialized',
      '4c4c4544004d3510804bb4c04f4e363',
      '4c4c4544004d3510804bb4c04f4e36321',
      'zc4c4544004d3510804bb4c04f4e3632',
      '00000000-0000-0000-0000-000000000000',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    ]) {
      assert.equal(normaliseMachineId(bad), null, bad);
    }
  });

  it('takes the first usable source in order', async () => {
    const dir = await tempDir();
    const empty = path.join(dir, 'empty');
    const dbus = path.join(dir, 'dbus');
    const dmi = path.join(dir, 'dmi');
    await writeFile(empty, '\n');
    await writeFile(dbus, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n');
    await writeFile(dmi, 'BBBBBBBB-BBBB-BBBB-BBBB-BBBBBBBBBBBB\n');
    assert.equal(await readMachineId([path.join(dir, 'missing'), empty, dbus, dmi]), 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
    assert.equal(await readMachineId([path.join(dir, 'missing')]), null);
  });
});

describe('identity resolution', () => {
  it('derives a persistent id from the machine id and saves it 0600', async () => {
    const dir = await tempDir();
    const source = path.join(dir, 'machine-id');
    await writeFile(source, '0123456789abcdef0123456789abcdef\n');
    const data = path.join(dir, 'data');
    const identity = await resolveIdentity({ dataDir: data, sources: [source] });
    assert.deepEqual(identity, { node_id: '01234567-89ab-cdef-0123-456789abcdef', id_type: 'persistent' });
    assert.deepEqual(JSON.parse(await readFile(path.join(data, IDENTITY_FILE), 'utf8')), identity);
    assert.equal((await stat(path.join(data, IDENTITY_FILE))).mode & 0o777, 0o600);
  });

  it('falls back to a random id that survives restarts', async () => {
    const dir = await tempDir();
    const first = await resolveIdentity({ dataDir: dir, sources: [path.join(dir, 'missing')] });
    assert.equal(first.id_type, 'random');
    assert.match(first.node_id, UUID);
    const second = await resolveIdentity({ dataDir: dir, sources: [path.join(dir, 'missing')] });
    assert.deepEqual(second, first);
  });

  it('keeps the saved id even when the machine id changes later', async () => {
    const dir = await tempDir();
    const source = path.join(dir, 'machine-id');
    await writeFile(source, '11111111111111111111111111111111');
    const first = await resolveIdentity({ dataDir: dir, sources: [source] });
    await writeFile(source, '22222222222222222222222222222222');
    assert.deepEqual(await resolveIdentity({ dataDir: dir, sources: [source] }), first);
  });

  it('uses an override as a random-type id and persists it', async () => {
    const dir = await tempDir();
    const source = path.join(dir, 'machine-id');
    await writeFile(source, '11111111111111111111111111111111');
    await resolveIdentity({ dataDir: dir, sources: [source] });
    const override = '9b2f6a40-1c1d-4e5e-8f90-a1b2c3d4e5f6';
    assert.deepEqual(await resolveIdentity({ dataDir: dir, override, sources: [source] }), { node_id: override, id_type: 'random' });
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, IDENTITY_FILE), 'utf8')), { node_id: override, id_type: 'random' });
  });
});
