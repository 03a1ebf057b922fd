/**
 * Revision rules (specs/core-node.md §4.2) on both engines: a change bumps exactly the nodes whose
 * rendered config it alters, and a change that leaves every config identical bumps nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { Outbox } from '../../events/outbox.ts';
import { dataKeyFromBytes, SecretBox } from '../../lib/secrets.ts';
import type { Principal } from '../../principal.ts';
import { CoreNodeAdminService } from './core-node-admin.service.ts';
import { OutboundService } from './outbound.service.ts';
import { ProtocolService } from './protocol.service.ts';
import { bumpForSubscriptions, bumpNodes } from './revisions.ts';
import { SubscriptionService } from './subscription.service.ts';
import { VpnUserService } from './vpn-user.service.ts';

const master: Principal = { type: 'api-key', key: 'master' };

for (const engine of testEngines()) {
  describe(`config revisions [${engine}]`, () => {
    let db: TestDatabase;
    let users: VpnUserService;
    let subs: SubscriptionService;
    let nodes: CoreNodeAdminService;
    let protocols: ProtocolService;
    let outbounds: OutboundService;
    const nodeIds: string[] = [];
    const protocolOf = new Map<string, number>();
    let userId: number;

    const revisions = async () => {
      const rows = await db.db.selectFrom('core_nodes').select(['node_id', 'revision']).execute();
      return Object.fromEntries(rows.map((r) => [r.node_id, Number(r.revision)]));
    };
    /** Runs `change` and returns the nodes whose revision moved (and by how much). */
    const bumpedBy = async (change: () => Promise<unknown>) => {
      const before = await revisions();
      await change();
      const after = await revisions();
      return Object.fromEntries(
        Object.entries(after)
          .filter(([id, rev]) => rev !== before[id])
          .map(([id, rev]) => [id, rev - (before[id] ?? 0)]),
      );
    };

    before(async () => {
      db = await openTestDatabase(engine);
      const secrets = new SecretBox(dataKeyFromBytes(randomBytes(32)));
      const outbox = new Outbox(db.db, 'test', () => {});
      users = new VpnUserService(db.db);
      subs = new SubscriptionService(db.db, outbox, secrets);
      nodes = new CoreNodeAdminService(db.db, outbox, { offlineAfterMs: 90_000 });
      protocols = new ProtocolService(db.db, secrets);
      outbounds = new OutboundService(db.db);
      for (let i = 0; i < 6; i++) {
        const node = await nodes.create({ name: `n${i}`, host: `n${i}.example.com` });
        nodeIds.push(node.id);
        const p = await protocols.create(master, { node_id: node.id, protocol: 'vless', port: 443 });
        protocolOf.set(node.id, p.id);
      }
      userId = (await users.create({ username: 'alice' })).id;
    });
    after(() => db.destroy());

    it('starts every node at revision 1 with a hash, and a new protocol bumps only its own node', async () => {
      const fresh = await nodes.create({ name: 'fresh', host: 'fresh.example.com' });
      assert.equal(fresh.revision, 1);
      assert.match(fresh.config_hash!, /^[0-9a-f]{64}$/);
      const moved = await bumpedBy(() => protocols.create(master, { node_id: fresh.id, protocol: 'trojan', port: 8443 }));
      assert.deepEqual(moved, { [fresh.id]: 1 });
      await nodes.delete(master, fresh.id);
    });

    it('bumps only the nodes a new subscription is granted on', async () => {
      const [a, b] = nodeIds;
      const moved = await bumpedBy(() => subs.create(master, { user_id: userId, node_protocol_ids: [protocolOf.get(a!)!, protocolOf.get(b!)!] }));
      assert.deepEqual(moved, { [a!]: 1, [b!]: 1 });
      const node = await nodes.get(master, a!);
      assert.equal(node.sync_status, 'pending');
    });

    it('bumps nothing for a subscription without grants, or granted a disabled protocol', async () => {
      assert.deepEqual(await bumpedBy(() => subs.create(master, { user_id: userId })), {});
      const off = await protocols.create(master, { node_id: nodeIds[5]!, protocol: 'vmess', port: 9000, enabled: false });
      assert.deepEqual(await bumpedBy(() => subs.create(master, { user_id: userId, node_protocol_ids: [off.id] })), {});
    });

    it('bumps nothing when the rendered config stays identical', async () => {
      const s = await subs.create(master, { user_id: userId, node_protocol_ids: [protocolOf.get(nodeIds[2]!)!] });
      // A limit far above usage, a reset strategy, a username: none of them is in any config.
      assert.deepEqual(await bumpedBy(() => subs.update(master, s.id, { traffic_limit_bytes: 10 ** 12, reset_strategy: 'month' })), {});
      assert.deepEqual(await bumpedBy(() => users.update(userId, { username: 'alice2', email: 'a@example.com' })), {});
      assert.deepEqual(await bumpedBy(() => bumpForSubscriptions(db.db, [s.id])), {});
      assert.deepEqual(await bumpedBy(() => bumpNodes(db.db, nodeIds)), {});
      // Usage below the limit changes nothing either (what ingest does between limit checks).
      await db.db.updateTable('vpn_subscriptions').set({ used_down_bytes: 5000 }).where('id', '=', s.id).execute();
      assert.deepEqual(await bumpedBy(() => bumpForSubscriptions(db.db, [s.id])), {});
    });

    it('bumps the nodes of a subscription that reaches its limit, is disabled, revoked, reset or deleted', async () => {
      const node = nodeIds[3]!;
      const s = await subs.create(master, { user_id: userId, traffic_limit_bytes: 1000, node_protocol_ids: [protocolOf.get(node)!] });
      // What limit enforcement does after ingest: status limited, then bump in the same transaction.
      const limited = await bumpedBy(() =>
        db.db.transaction().execute(async (trx) => {
          await trx.updateTable('vpn_subscriptions').set({ used_up_bytes: 600, used_down_bytes: 400, status: 'limited' }).where('id', '=', s.id).execute();
          return bumpForSubscriptions(trx, [s.id]);
        }),
      );
      assert.deepEqual(limited, { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => subs.resetTraffic(master, s.id)), { [node]: 1 });
      assert.equal((await subs.get(master, s.id)).status, 'active');
      assert.deepEqual(await bumpedBy(() => subs.update(master, s.id, { status: 'disabled' })), { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => subs.update(master, s.id, { status: 'active' })), { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => subs.revoke(master, s.id)), { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => subs.delete(s.id)), { [node]: 1 });
    });

    it('bumps the nodes before and after when grants move', async () => {
      const [, , , , a, b] = nodeIds;
      const s = await subs.create(master, { user_id: userId, node_protocol_ids: [protocolOf.get(a!)!] });
      assert.deepEqual(await bumpedBy(() => subs.setGrants(master, s.id, [protocolOf.get(b!)!])), { [a!]: 1, [b!]: 1 });
      assert.deepEqual(await bumpedBy(() => subs.addGrants(master, s.id, [protocolOf.get(b!)!])), {});
      assert.deepEqual(await bumpedBy(() => subs.removeGrant(master, s.id, protocolOf.get(b!)!)), { [b!]: 1 });
    });

    it('bumps the nodes of all subscriptions of a user who is disabled or deleted', async () => {
      const bob = await users.create({ username: 'bob' });
      await subs.create(master, { user_id: bob.id, node_protocol_ids: [protocolOf.get(nodeIds[0]!)!] });
      await subs.create(master, { user_id: bob.id, node_protocol_ids: [protocolOf.get(nodeIds[1]!)!] });
      assert.deepEqual(await bumpedBy(() => users.update(bob.id, { status: 'disabled' })), { [nodeIds[0]!]: 1, [nodeIds[1]!]: 1 });
      // Disabled subscriptions are in no config: deleting them changes nothing.
      assert.deepEqual(await bumpedBy(() => users.delete(bob.id)), {});
    });

    it('bumps only the owning node for protocol, outbound and node changes', async () => {
      const node = nodeIds[4]!;
      const p = protocolOf.get(node)!;
      assert.deepEqual(await bumpedBy(() => protocols.update(master, p, { transport: 'ws', transport_settings: { path: '/x' } })), { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => protocols.update(master, p, { remark: 'only a label' })), {});
      const o = await outbounds.create(master, {
        node_id: node,
        tag: 'warp',
        protocol: 'socks',
        settings: { servers: [{ address: '127.0.0.1', port: 40000 }] },
      });
      assert.deepEqual(await bumpedBy(() => nodes.update(master, node, { routing_rules: [{ outbound_tag: 'warp', domain: ['example.org'] }] })), { [node]: 1 });
      assert.deepEqual(await bumpedBy(() => nodes.update(master, node, { name: 'renamed', region: 'eu' })), {});
      assert.deepEqual(await bumpedBy(() => outbounds.update(master, o.id, { settings: { servers: [{ address: '127.0.0.1', port: 40001 }] } })), { [node]: 1 });
      await nodes.update(master, node, { routing_rules: [] });
      assert.deepEqual(await bumpedBy(() => outbounds.delete(master, o.id)), { [node]: 1 });
    });

    it('expires subscriptions past expires_at in the sweep, bumping their nodes and recording the event', async () => {
      const node = nodeIds[2]!;
      const s = await subs.create(master, {
        user_id: userId,
        expires_at: new Date(Date.now() + 60_000).toISOString(),
        node_protocol_ids: [protocolOf.get(node)!],
      });
      const moved = await bumpedBy(() => subs.sweep(new Date(Date.now() + 120_000)));
      assert.deepEqual(moved, { [node]: 1 });
      assert.equal((await subs.get(master, s.id)).status, 'expired');
      const events = await db.db.selectFrom('events').select(['type', 'envelope']).where('type', '=', 'vpn.subscription.expired').execute();
      assert.equal(events.length, 1);
      assert.equal(JSON.parse(events[0]!.envelope).data.subscription_id, s.id);
      // A second sweep finds nothing to do.
      assert.deepEqual(await bumpedBy(() => subs.sweep(new Date(Date.now() + 180_000))), {});
    });

    it('applies periodic traffic resets, serving a limited subscription again', async () => {
      const node = nodeIds[1]!;
      const s = await subs.create(master, { user_id: userId, traffic_limit_bytes: 100, reset_strategy: 'day', node_protocol_ids: [protocolOf.get(node)!] });
      await db.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('vpn_subscriptions')
          .set({ used_up_bytes: 100, status: 'limited', inserted_at: '2000-01-01T00:00:00.000Z' })
          .where('id', '=', s.id)
          .execute();
        await bumpForSubscriptions(trx, [s.id]);
      });
      const moved = await bumpedBy(() => subs.sweep());
      assert.deepEqual(moved, { [node]: 1 });
      const after = await subs.get(master, s.id);
      assert.equal(after.status, 'active');
      assert.equal(after.used_bytes, 0);
      assert.ok(after.last_reset_at);
    });
  });
}
