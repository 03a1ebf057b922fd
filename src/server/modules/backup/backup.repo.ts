/**
 * The SQL of export and import. Unlike every other repo, this one reads and writes the tables of
 * many modules (clusters, inventory, edge nodes, SSH, VPN, webhooks, operators): a backup is a
 * storage-level copy, and going through each module's services would rebuild rows with new ids,
 * times and secrets, which is exactly what a restore must not do. Keeping all of it in this one
 * file makes the exception visible; nothing here decides anything (the service does).
 */
import type { Kysely, Transaction } from 'kysely';
import { chunks } from '../../db/chunks.ts';
import { advanceSerial } from '../../db/dialect.ts';
import type { Database } from '../../db/schema.ts';

type Db = Kysely<Database>;

/** The tables a backup restores, in an order where every row's references come first. */
export const BACKUP_TABLES = [
  'users',
  'clusters',
  'enrollment_keys',
  'nodes',
  'edge_nodes',
  'address_allocations',
  'aliases',
  'ssh_usernames',
  'ssh_public_keys',
  'vpn_users',
  'vpn_subscriptions',
  'core_nodes',
  'node_protocols',
  'subscription_protocols',
  'node_outbounds',
  'webhooks',
  'webhook_events',
] as const satisfies ReadonlyArray<keyof Database>;
export type BackupTable = (typeof BACKUP_TABLES)[number];

/** Each table's row identity, which is also the order rows are read in. */
const KEYS: Record<BackupTable, string[]> = {
  users: ['id'],
  clusters: ['id'],
  enrollment_keys: ['id'],
  nodes: ['id'],
  edge_nodes: ['node_id'],
  address_allocations: ['node_id'],
  aliases: ['id'],
  ssh_usernames: ['id'],
  ssh_public_keys: ['id'],
  vpn_users: ['id'],
  vpn_subscriptions: ['id'],
  core_nodes: ['node_id'],
  node_protocols: ['id'],
  subscription_protocols: ['subscription_id', 'node_protocol_id'],
  node_outbounds: ['id'],
  webhooks: ['id'],
  webhook_events: ['webhook_id', 'event_type'],
};

/** Tables whose integer ids come from a generator that must move past restored ids. */
const SERIAL: Partial<Record<BackupTable, string>> = { vpn_users: 'id', vpn_subscriptions: 'id', node_protocols: 'id', node_outbounds: 'id' };

export type TableRows = { [T in BackupTable]: Array<Record<string, unknown>> };

export const backupRepo = {
  async readAll(db: Db): Promise<TableRows> {
    const out = {} as TableRows;
    for (const table of BACKUP_TABLES) {
      let query = (db as Kysely<any>).selectFrom(table).selectAll();
      for (const column of KEYS[table]) query = query.orderBy(column);
      out[table] = await query.execute();
    }
    return out;
  },

  /** Outbox events since `sinceIso`, newest first, at most `limit`. */
  async recentEvents(db: Db, sinceIso: string, limit: number): Promise<unknown[]> {
    const rows = await db.selectFrom('events').select('envelope').where('time', '>=', sinceIso).orderBy('seq', 'desc').limit(limit).execute();
    return rows.map((row) => JSON.parse(row.envelope) as unknown);
  },

  async insert(trx: Transaction<Database>, table: BackupTable, rows: Array<Record<string, unknown>>): Promise<void> {
    for (const chunk of chunks(rows, 200)) await (trx as Kysely<any>).insertInto(table).values(chunk).execute();
  },

  async advanceSerials(trx: Transaction<Database>): Promise<void> {
    for (const [table, column] of Object.entries(SERIAL)) await advanceSerial(trx, table, column);
  },
};

/** A row's identity as one string, for matching a document's rows against the target's. */
export const rowKey = (table: BackupTable, row: Record<string, unknown>): string => KEYS[table].map((column) => String(row[column])).join('|');
