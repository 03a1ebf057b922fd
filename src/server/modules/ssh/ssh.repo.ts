/** SQL of `ssh_usernames` and `ssh_public_keys`. */
import type { Kysely } from 'kysely';
import { forUpdate } from '../../db/dialect.ts';
import { type NodeScope, withinScope } from '../../db/scope.ts';
import { equals, type Filter, type ListInput, type Page, paginate, present, textFilter, timestampFilters } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { SshPublicKeyRow, SshUsernameRow } from '../../db/tables/ssh.ts';

type Db = Kysely<Database>;

/** A username with its node's cluster (null while the node has none). */
export interface SshUsernameRecord extends SshUsernameRow {
  cluster_name: string | null;
}

const usernameFilters: Record<string, Filter> = {
  username: textFilter('ssh_usernames.username'),
  node_id: equals('ssh_usernames.node_id'),
  has_password: present('ssh_usernames.password_hash'),
  // Join-based cluster filters ignore comma lists (edge-admin spec §4.4).
  cluster_name: textFilter('clusters.name', { inList: false }),
  ...timestampFilters('ssh_usernames'),
};

const keyFilters: Record<string, Filter> = {
  key_name: textFilter('ssh_public_keys.key_name'),
  public_key: textFilter('ssh_public_keys.public_key'),
  ssh_username_id: equals('ssh_public_keys.ssh_username_id'),
  node_id: equals('ssh_usernames.node_id'),
  username: textFilter('ssh_usernames.username'),
  cluster_name: textFilter('clusters.name', { inList: false }),
  ...timestampFilters('ssh_public_keys'),
};

const usernames = (db: Db) =>
  db
    .selectFrom('ssh_usernames')
    .innerJoin('nodes', 'nodes.id', 'ssh_usernames.node_id')
    .leftJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .selectAll('ssh_usernames')
    .select('clusters.name as cluster_name');

const keys = (db: Db) =>
  db
    .selectFrom('ssh_public_keys')
    .innerJoin('ssh_usernames', 'ssh_usernames.id', 'ssh_public_keys.ssh_username_id')
    .innerJoin('nodes', 'nodes.id', 'ssh_usernames.node_id')
    .leftJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .selectAll('ssh_public_keys');

export const sshRepo = {
  async insertUsername(db: Db, row: SshUsernameRow): Promise<void> {
    await db.insertInto('ssh_usernames').values(row).execute();
  },

  /** Locks the parent node row, so a concurrent node delete cannot slip in; returns its id when it exists. */
  lockNode(db: Db, nodeId: string): Promise<{ id: string } | undefined> {
    return forUpdate(db, db.selectFrom('nodes').select('id').where('id', '=', nodeId)).executeTakeFirst();
  },

  /** Locks the username row; returns its id when it exists. */
  lockUsername(db: Db, id: string): Promise<{ id: string } | undefined> {
    return forUpdate(db, db.selectFrom('ssh_usernames').select('id').where('id', '=', id)).executeTakeFirst();
  },

  findUsername(db: Db, id: string): Promise<SshUsernameRecord | undefined> {
    return usernames(db).where('ssh_usernames.id', '=', id).executeTakeFirst();
  },

  /** The exact (case-sensitive) username on one node: what SSH verification looks up. */
  findUsernameOnNode(db: Db, nodeId: string, username: string): Promise<SshUsernameRecord | undefined> {
    return usernames(db).where('ssh_usernames.node_id', '=', nodeId).where('ssh_usernames.username', '=', username).executeTakeFirst();
  },

  listUsernames(db: Db, input: ListInput, scope: NodeScope): Promise<Page<SshUsernameRecord>> {
    return paginate(withinScope(usernames(db), 'ssh_usernames.node_id', scope), input, {
      filters: usernameFilters,
      sortable: { username: 'ssh_usernames.username', inserted_at: 'ssh_usernames.inserted_at', updated_at: 'ssh_usernames.updated_at' },
      tieBreaker: 'ssh_usernames.id',
    });
  },

  /** Keys go with their username (foreign key cascade). */
  async deleteUsername(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('ssh_usernames').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  async insertKeys(db: Db, rows: SshPublicKeyRow[]): Promise<void> {
    if (rows.length > 0) await db.insertInto('ssh_public_keys').values(rows).execute();
  },

  /** A key with the node its username belongs to. */
  findKey(db: Db, id: string): Promise<(SshPublicKeyRow & { node_id: string }) | undefined> {
    return db
      .selectFrom('ssh_public_keys')
      .innerJoin('ssh_usernames', 'ssh_usernames.id', 'ssh_public_keys.ssh_username_id')
      .selectAll('ssh_public_keys')
      .select('ssh_usernames.node_id')
      .where('ssh_public_keys.id', '=', id)
      .executeTakeFirst();
  },

  /** Keys of many usernames in one query, oldest first. */
  keysOf(db: Db, usernameIds: string[]): Promise<SshPublicKeyRow[]> {
    if (usernameIds.length === 0) return Promise.resolve([]);
    return db.selectFrom('ssh_public_keys').selectAll().where('ssh_username_id', 'in', usernameIds).orderBy('inserted_at').orderBy('id').execute();
  },

  async hasKeyData(db: Db, usernameId: string, keyData: string): Promise<boolean> {
    const row = await db
      .selectFrom('ssh_public_keys')
      .select('id')
      .where('ssh_username_id', '=', usernameId)
      .where('key_data', '=', keyData)
      .executeTakeFirst();
    return row !== undefined;
  },

  listKeys(db: Db, input: ListInput, scope: NodeScope): Promise<Page<SshPublicKeyRow>> {
    return paginate(withinScope(keys(db), 'ssh_usernames.node_id', scope), input, {
      filters: keyFilters,
      sortable: { key_name: 'ssh_public_keys.key_name', inserted_at: 'ssh_public_keys.inserted_at', updated_at: 'ssh_public_keys.updated_at' },
      tieBreaker: 'ssh_public_keys.id',
    });
  },

  async deleteKey(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('ssh_public_keys').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },
};
