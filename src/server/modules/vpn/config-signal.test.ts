import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase, type TestDatabase } from '../../../../test/helpers/db.ts';
import { testEngines } from '../../../../test/helpers/server.ts';
import { waitUntil } from '../../../../test/helpers/stream-agent.ts';
import { PostgresSignalBus } from '../../channels/postgres-signal-bus.ts';
import { configSignal, relayConfigSignal } from './config-signal.ts';

if (testEngines().includes('postgres')) {
  describe('config signal across instances [postgres]', () => {
    let database: TestDatabase;
    let here: PostgresSignalBus;
    let peer: PostgresSignalBus;
    let unrelay: () => void;

    before(async () => {
      database = await openTestDatabase('postgres');
      here = new PostgresSignalBus('here', database.db, database.postgresUrl!, () => {});
      peer = new PostgresSignalBus('peer', database.db, database.postgresUrl!, () => {});
      await here.start();
      await peer.start();
      unrelay = relayConfigSignal(here, () => {});
    });
    after(async () => {
      unrelay();
      await here.stop();
      await peer.stop();
      await database.destroy();
    });

    it('a change on another instance wakes the long-polls waiting here', async () => {
      let woke = false;
      const waiting = configSignal.wait('node-on-here', 120_000).then(() => (woke = true));
      await peer.publish('config.changed', ['node-on-here']);
      await waiting;
      assert.equal(woke, true);
    });

    it('a change made here is published for the other instances', async () => {
      const heard: unknown[] = [];
      // Only what `here` published: the peer's own signal of the test above may still loop back.
      peer.subscribe('config.changed', (data, from) => from === 'here' && heard.push(data));
      configSignal.notify(['node-on-peer']);
      await waitUntil(() => heard.length > 0);
      assert.deepEqual(heard, [['node-on-peer']]);
    });
  });
}
