/**
 * Which instance holds which node's live channel (`node_channels`). The holder writes its rows:
 * on connect, on close, all of them on start and stop; peers read them to route frames. Writes of
 * one node run in order, so a quick close-and-reconnect cannot leave the row deleted.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { nowIso } from '../lib/time.ts';

/** Node ids per statement, well under SQLite's bind-parameter limit. */
const LOOKUP_CHUNK = 500;

export class ChannelDirectory {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Kysely<Database>,
    readonly instanceId: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  held(nodeId: string): Promise<void> {
    return this.inOrder(nodeId, async () => {
      const row = { node_id: nodeId, instance_id: this.instanceId, connected_at: nowIso() };
      await this.db
        .insertInto('node_channels')
        .values(row)
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ instance_id: row.instance_id, connected_at: row.connected_at }))
        .execute();
    });
  }

  /** Only this instance's row: the node may already have reconnected elsewhere. */
  released(nodeId: string): Promise<void> {
    return this.inOrder(nodeId, async () => {
      await this.db.deleteFrom('node_channels').where('node_id', '=', nodeId).where('instance_id', '=', this.instanceId).execute();
    });
  }

  async holder(nodeId: string): Promise<string | null> {
    const row = await this.db.selectFrom('node_channels').select('instance_id').where('node_id', '=', nodeId).executeTakeFirst();
    return row?.instance_id ?? null;
  }

  /** node id → holding instance, for the nodes that have a row. */
  async holders(nodeIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let i = 0; i < nodeIds.length; i += LOOKUP_CHUNK) {
      const part = nodeIds.slice(i, i + LOOKUP_CHUNK);
      const rows = await this.db.selectFrom('node_channels').select(['node_id', 'instance_id']).where('node_id', 'in', part).execute();
      for (const row of rows) found.set(row.node_id, row.instance_id);
    }
    return found;
  }

  /** Forgets every row of this instance (rows a crash left behind, or a clean stop). */
  async releaseAll(): Promise<void> {
    await Promise.all(this.chains.values());
    await this.db.deleteFrom('node_channels').where('instance_id', '=', this.instanceId).execute();
  }

  /** Deletes the rows of instances not in `live` (crashed ones: their sockets are gone). */
  async prune(live: readonly string[]): Promise<void> {
    if (live.length === 0) return;
    await this.db
      .deleteFrom('node_channels')
      .where('instance_id', 'not in', [...live])
      .execute();
  }

  private inOrder(nodeId: string, write: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(nodeId) ?? Promise.resolve()).then(write).catch(this.onError);
    this.chains.set(nodeId, next);
    void next.then(() => {
      if (this.chains.get(nodeId) === next) this.chains.delete(nodeId);
    });
    return next;
  }
}
