import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignClusters, capacities, type ClusterLoad } from './assignment.ts';

const load = (name: string, nodeCount: number): ClusterLoad => ({ id: `id-${name}`, name, nodeCount });

const ownersByName = (result: ReturnType<typeof assignClusters>) => Object.fromEntries([...result.owners].map(([id, owner]) => [id.slice(3), owner]).sort());

describe('capacity math', () => {
  it('charges every admin one WireGuard peer per other admin', () => {
    assert.deepEqual(capacities([]), []);
    assert.deepEqual(capacities([{ name: 'admin-a', maxWireguardPeers: 250 }]), [
      { name: 'admin-a', maxWireguardPeers: 250, adminPeerCount: 0, edgeNodeCapacity: 250 },
    ]);
    const three = capacities([
      { name: 'admin-a', maxWireguardPeers: 250 },
      { name: 'admin-b', maxWireguardPeers: 100 },
      { name: 'admin-c', maxWireguardPeers: 1 },
    ]);
    assert.deepEqual(
      three.map((a) => [a.adminPeerCount, a.edgeNodeCapacity]),
      [
        [2, 248],
        [2, 98],
        [2, -1],
      ],
    );
  });
});

describe('cluster assignment', () => {
  it('spreads clusters biggest first: fewest clusters, then most room, then name', () => {
    const admins = capacities([
      { name: 'admin-b', maxWireguardPeers: 11 },
      { name: 'admin-a', maxWireguardPeers: 11 },
    ]);
    const result = assignClusters(admins, [load('small', 1), load('empty', 0), load('big', 3), load('mid', 2)]);
    assert.deepEqual(ownersByName(result), { big: 'admin-a', empty: 'admin-a', mid: 'admin-b', small: 'admin-b' });
    assert.deepEqual(result.orphaned, []);
  });

  it('prefers the admin with more room when cluster counts tie', () => {
    const admins = capacities([
      { name: 'admin-a', maxWireguardPeers: 6 },
      { name: 'admin-b', maxWireguardPeers: 21 },
    ]);
    const result = assignClusters(admins, [load('c3', 4), load('c1', 4), load('c2', 4)]);
    // c1 → admin-b (more room), c2 → admin-a (fewer clusters), c3 → admin-b (admin-a has 1 left).
    assert.deepEqual(ownersByName(result), { c1: 'admin-b', c2: 'admin-a', c3: 'admin-b' });
  });

  it('orphans a cluster no single admin can hold even when the total capacity could', () => {
    const admins = capacities([
      { name: 'admin-a', maxWireguardPeers: 3 },
      { name: 'admin-b', maxWireguardPeers: 3 },
    ]);
    const result = assignClusters(admins, [load('wide', 3), load('fits', 1)]);
    assert.deepEqual(result.orphaned, ['id-wide']);
    assert.deepEqual(ownersByName(result), { fits: 'admin-a' });
  });

  it('orphans everything, empty clusters too, when capacity is negative or there are no admins', () => {
    const negative = capacities([
      { name: 'admin-a', maxWireguardPeers: 1 },
      { name: 'admin-b', maxWireguardPeers: 1 },
      { name: 'admin-c', maxWireguardPeers: 1 },
    ]);
    assert.deepEqual(assignClusters(negative, [load('empty', 0)]).orphaned, ['id-empty']);
    assert.deepEqual(assignClusters([], [load('x', 0), load('y', 2)]).orphaned, ['id-y', 'id-x']);
  });

  it('gives the same answer whatever order the inputs arrive in', () => {
    const admins = [
      { name: 'admin-c', maxWireguardPeers: 40 },
      { name: 'admin-a', maxWireguardPeers: 40 },
      { name: 'admin-b', maxWireguardPeers: 40 },
    ];
    const clusters = Array.from({ length: 12 }, (_, i) => load(`c${i}`, (i * 7) % 5));
    const expected = ownersByName(assignClusters(capacities(admins), clusters));
    for (let i = 0; i < 5; i++) {
      const shuffledAdmins = [...admins].sort(() => Math.random() - 0.5);
      const shuffledClusters = [...clusters].sort(() => Math.random() - 0.5);
      assert.deepEqual(ownersByName(assignClusters(capacities(shuffledAdmins), shuffledClusters)), expected);
    }
  });
});
