/**
 * The only file that knows which engine is underneath. Everything else speaks Kysely and asks this
 * module for the few things the engines do differently.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { type ColumnDefinitionBuilder, type CreateTableBuilder, Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Database } from './schema.ts';

export type Engine = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  engine: Engine;
  /** Postgres connection string (for LISTEN/NOTIFY clients), null on SQLite. */
  postgresUrl: string | null;
  close(): Promise<void>;
}

// bigint/numeric come back from pg as strings; every count and sum we read fits a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

function engineOfUrl(url: string): Engine {
  return url.startsWith('sqlite:') ? 'sqlite' : 'postgres';
}

export function openDatabase(url: string, options: { poolSize?: number } = {}): DatabaseHandle {
  if (engineOfUrl(url) === 'sqlite') {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { db, engine: 'sqlite', postgresUrl: null, close: () => db.destroy() };
  }
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  // An idle client losing its server must not take the process down; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, engine: 'postgres', postgresUrl: url, close: () => db.destroy() };
}

function engineOf(db: Kysely<any>): Engine {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** A monotonically increasing integer primary key (outbox and job ordering). */
export function addSerialPrimaryKey<T extends string>(db: Kysely<any>, table: CreateTableBuilder<T, any>, column: string): CreateTableBuilder<T, any> {
  return engineOf(db) === 'postgres'
    ? table.addColumn(column, 'bigint', (c: ColumnDefinitionBuilder) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn(column, 'integer', (c: ColumnDefinitionBuilder) => c.primaryKey().autoIncrement());
}

/**
 * Column names of a unique-constraint violation, or null when the error is something else.
 * Services turn these into 409 `<field> has already been taken`.
 */
export function uniqueViolationColumns(error: unknown): string[] | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: string }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const match = /constraint failed: (.+)$/.exec(error.message);
    return match ? match[1]!.split(',').map((c) => c.trim().split('.').pop()!) : [];
  }
  if (code === '23505') {
    const detail = (error as { detail?: string }).detail ?? '';
    const match = /^Key \(([^)]+)\)=/.exec(detail);
    return match ? match[1]!.split(',').map((c) => c.trim()) : [];
  }
  return null;
}

/**
 * The string at top-level `key` of a JSON-text column, or null when absent. `key` is bound, but
 * SQLite reads it as a JSON path: callers pass keys without `"` or `\`.
 */
export function jsonTextAt(db: Kysely<any>, column: string, key: string) {
  return engineOf(db) === 'postgres'
    ? sql<string | null>`(${sql.ref(column)}::jsonb ->> cast(${key} as text))`
    : sql<string | null>`json_extract(${sql.ref(column)}, ${`$."${key}"`})`;
}

/** Creates (and later drops) a throwaway Postgres database next to the one in `adminUrl`. */
export async function createScratchPostgresDatabase(adminUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Makes outbox sequence numbers commit in order. On Postgres two transactions can take seq 10 and
 * 11 and commit 11 first; a tailer would then skip 10. A transaction-scoped advisory lock taken
 * before the insert serialises event writers until commit. SQLite already has one writer.
 */
export async function serializeOutboxWrites(trx: Kysely<any>): Promise<void> {
  if (engineOf(trx) === 'postgres') await sql`select pg_advisory_xact_lock(7301)`.execute(trx);
}

/** `SELECT … FOR UPDATE` where the engine has it (SQLite's single writer makes it implicit). */
export function forUpdate<Q extends { forUpdate(): Q }>(db: Kysely<any>, query: Q): Q {
  return engineOf(db) === 'postgres' ? query.forUpdate() : query;
}

/** `FOR UPDATE SKIP LOCKED` on Postgres, so instances claim different jobs; SQLite has one writer. */
export function forUpdateSkipLocked<Q extends { forUpdate(): Q; skipLocked(): Q }>(db: Kysely<any>, query: Q): Q {
  return engineOf(db) === 'postgres' ? query.forUpdate().skipLocked() : query;
}

/**
 * After rows were inserted with explicit serial ids (a restore), moves the id generator past them.
 * SQLite's AUTOINCREMENT follows explicit ids on its own; a Postgres identity sequence does not and
 * would hand out an id that is already taken.
 */
export async function advanceSerial(trx: Kysely<any>, table: string, column: string): Promise<void> {
  if (engineOf(trx) !== 'postgres') return;
  await sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce(max(${sql.ref(column)}), 0) + 1, false) from ${sql.table(table)}`.execute(trx);
}
