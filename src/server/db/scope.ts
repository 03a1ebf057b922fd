/**
 * A caller's node scope in SQL: the inventory ids they may touch (null = every node). Lists narrow
 * in the query, not after it, so pagination counts only what the caller may see.
 */
import { type SelectQueryBuilder, sql } from 'kysely';
import { chunks } from './chunks.ts';

export type NodeScope = readonly string[] | null;

/** Keeps the rows whose `column` holds an id in the scope; an empty scope keeps none. */
export function withinScope<Q extends SelectQueryBuilder<any, any, any>>(query: Q, column: string, scope: NodeScope): Q {
  if (scope === null) return query;
  if (scope.length === 0) return query.where(sql<boolean>`1 = 0`) as Q;
  return query.where((eb) => eb.or(chunks([...scope]).map((ids) => eb(sql.ref(column), 'in', ids)))) as Q;
}

/** The stored form of a scope (work that runs later, in the background): sorted, so equal scopes store equal text. */
export function encodeScope(scope: NodeScope): string | null {
  return scope === null ? null : JSON.stringify([...new Set(scope)].sort());
}

export function decodeScope(stored: string | null): NodeScope {
  return stored === null ? null : (JSON.parse(stored) as string[]);
}
