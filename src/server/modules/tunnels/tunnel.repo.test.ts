import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import type { TunnelRow } from '../../db/tables/tunnels.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { inventoryRepo } from '../inventory/inventory.repo.ts';
import { tunnelRepo } from './tunnel.repo.ts';

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;

for (const engine of testEngines()) {
  describe(`tunnel repo [${engine}]`, () => {
    let database: TestDatabase;
    const [a, b, c, r] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    const row = (overrides: Partial<TunnelRow>): TunnelRow => ({
      id: uuidv7(),
      name: 't',
      protocol: 'tcp',
      mode: 'direct',
      ingress_node_id: a,
      ingress_listen_port: 9000,
      egress_node_id: b,
      egress_forward_addr: '127.0.0.1:80',
      egress_peer_addr: '10.0.0.2:7000',
      relay_addr: null,
      relay_node_id: null,
      status: 'pending',
      associated_flow_ids: null,
      tunnel_key_enc: 'sealed',
      tunnel_bind_secret_enc: 'sealed',
      tunnel_psk_enc: 'sealed',
      ingress_push_status: 'pending',
      egress_push_status: 'pending',
      relay_push_status: null,
      ingress_push_error: null,
      egress_push_error: null,
      relay_push_error: null,
      created_at: at(0),
      updated_at: at(0),
      ...overrides,
    });
    const direct = row({ created_at: at(1) });
    const relayed = row({ mode: 'relay', egress_node_id: c, relay_node_id: r, relay_addr: '1.2.3.4:4433', status: 'active', created_at: at(2) });
    const disabled = row({ ingress_node_id: c, status: 'disabled', created_at: at(3) });

    before(async () => {
      database = await openTestDatabase(engine);
      for (const id of [a, b, c, r])
        await inventoryRepo.insert(database.db, {
          id,
          kind: 'manager-edge',
          name: 'n',
          cluster_id: null,
          status: 'online',
          last_seen_at: null,
          version: null,
          inserted_at: at(0),
          updated_at: at(0),
        });
      for (const tunnel of [direct, relayed, disabled]) await tunnelRepo.insert(database.db, tunnel);
    });
    after(() => database.destroy());

    const ids = (rows: TunnelRow[]) => rows.map((t) => t.id);

    it('lists newest first, by node, and only tunnels with every leg in the scope', async () => {
      assert.deepEqual(ids(await tunnelRepo.list(database.db, null)), [disabled.id, relayed.id, direct.id]);
      assert.deepEqual(ids(await tunnelRepo.list(database.db, null, r)), [relayed.id]);
      assert.deepEqual(ids(await tunnelRepo.list(database.db, [a, b, c])), [disabled.id, direct.id]);
      assert.deepEqual(ids(await tunnelRepo.list(database.db, [a, c, r])), [relayed.id]);
      assert.deepEqual(ids(await tunnelRepo.list(database.db, [])), []);
      assert.equal(await tunnelRepo.find(database.db, relayed.id, [a, b]), undefined);
      assert.equal((await tunnelRepo.find(database.db, relayed.id, [a, c, r]))?.id, relayed.id);
    });

    it('finds the live tunnels of a node and the pending ones', async () => {
      assert.deepEqual(ids(await tunnelRepo.liveOnNode(database.db, c)), [relayed.id]);
      assert.deepEqual(ids(await tunnelRepo.pending(database.db)), [direct.id]);
    });

    it('updates, deletes, and goes with a deleted node', async () => {
      assert.equal(await tunnelRepo.update(database.db, direct.id, { status: 'active', ingress_push_status: 'pushed', updated_at: at(9) }), true);
      assert.deepEqual(await tunnelRepo.findLocked(database.db, direct.id), { ...direct, status: 'active', ingress_push_status: 'pushed', updated_at: at(9) });
      assert.equal(await tunnelRepo.delete(database.db, disabled.id), true);
      assert.equal(await tunnelRepo.delete(database.db, disabled.id), false);
      await inventoryRepo.delete(database.db, r);
      assert.deepEqual(ids(await tunnelRepo.list(database.db, null)), [direct.id]);
    });
  });
}
