/**
 * Paginated, sorted, filtered lists with the semantics of the Admin API contract (§4): wildcard
 * string filters, comma IN-lists, inclusive ranges with whole-day date bounds, sortable-field
 * allow-lists that silently fall back to the default order.
 */
import { type Expression, type ExpressionBuilder, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { parseRangeBound } from '../lib/time.ts';

export interface Page<T> {
  items: T[];
  pagination: {
    page: number;
    page_size: number;
    total_count: number;
    total_pages: number;
    has_next: boolean;
    has_prev: boolean;
    next_page: number | null;
    prev_page: number | null;
  };
}

export interface ListInput {
  page?: number;
  page_size?: number;
  order_by?: string;
  order_directions?: string;
  [filter: string]: unknown;
}

type Eb = ExpressionBuilder<any, any>;
/** Turns one query parameter's value into a WHERE condition. */
export type Filter = (eb: Eb, value: any) => Expression<SqlBool>;

export interface ListSpec {
  filters: Record<string, Filter>;
  /** Public sort name → column reference. */
  sortable: Record<string, string>;
  /** Column used to break ties so pages never overlap (a unique, time-ordered id). */
  tieBreaker: string;
  defaultOrder?: { column: string; direction: 'asc' | 'desc' };
}

/** Exact match, comma IN-list, or case-insensitive LIKE when the value contains `*`. */
export const textFilter =
  (column: string, options: { inList?: boolean } = {}): Filter =>
  (eb, value: string) => {
    if (value.includes(',')) {
      if (options.inList === false) return sql<SqlBool>`1 = 1`;
      return eb(
        eb.ref(column),
        'in',
        value.split(',').map((v) => v.trim()),
      );
    }
    if (value.includes('*')) return sql<SqlBool>`lower(${sql.ref(column)}) like lower(${value.replaceAll('*', '%')})`;
    return eb(eb.ref(column), '=', value);
  };

export const equals =
  (column: string, map: (value: any) => unknown = (v) => v): Filter =>
  (eb, value) =>
    eb(eb.ref(column), '=', map(value));

/** `true` → column is not null; `false` → column is null. */
export const present =
  (column: string): Filter =>
  (eb, value: boolean) =>
    value ? eb(eb.ref(column), 'is not', null) : eb(eb.ref(column), 'is', null);

export const atLeast =
  (column: string): Filter =>
  (eb, value: number) =>
    eb(eb.ref(column), '>=', value);

export const atMost =
  (column: string): Filter =>
  (eb, value: number) =>
    eb(eb.ref(column), '<=', value);

/** Range bounds on timestamp columns; a bare date covers its whole UTC day. */
export const dateFrom =
  (column: string): Filter =>
  (eb, value: string) =>
    eb(eb.ref(column), '>=', parseRangeBound(value, 'gte'));

export const dateUntil =
  (column: string): Filter =>
  (eb, value: string) =>
    eb(eb.ref(column), '<=', parseRangeBound(value, 'lte'));

/** The four range filters every list has. */
export const timestampFilters = (table: string): Record<string, Filter> => ({
  inserted_at__gte: dateFrom(`${table}.inserted_at`),
  inserted_at__lte: dateUntil(`${table}.inserted_at`),
  updated_at__gte: dateFrom(`${table}.updated_at`),
  updated_at__lte: dateUntil(`${table}.updated_at`),
});

export const dateRange = (name: string, column: string): Record<string, Filter> => ({
  [`${name}__gte`]: dateFrom(column),
  [`${name}__lte`]: dateUntil(column),
});

/** Applies the filters named in `input` to a query (shared by lists and targeting). */
export function applyFilters<Q extends SelectQueryBuilder<any, any, any>>(query: Q, input: Record<string, unknown>, filters: Record<string, Filter>): Q {
  let q = query;
  for (const [name, value] of Object.entries(input)) {
    const filter = filters[name];
    if (filter && value !== undefined && value !== null) q = q.where((eb: Eb) => filter(eb, value)) as Q;
  }
  return q;
}

function ordering(input: ListInput, spec: ListSpec): Array<[string, 'asc' | 'desc']> {
  const fallback: Array<[string, 'asc' | 'desc']> = [[spec.defaultOrder?.column ?? 'inserted_at', spec.defaultOrder?.direction ?? 'desc']];
  const resolve = (fields: Array<[string, 'asc' | 'desc']>) => fields.map(([f, d]) => [spec.sortable[f] ?? f, d] as [string, 'asc' | 'desc']);
  if (!input.order_by) return resolve(fallback);
  const fields = input.order_by.split(',').map((f) => f.trim());
  const directions = (input.order_directions ?? '').split(',').map((d) => d.trim().toLowerCase());
  if (fields.some((f) => !(f in spec.sortable))) return resolve(fallback);
  return fields.map((f, i) => [spec.sortable[f]!, directions[i] === 'desc' ? 'desc' : 'asc']);
}

export async function paginate<Row>(query: SelectQueryBuilder<any, any, Row>, input: ListInput, spec: ListSpec): Promise<Page<Row>> {
  const page = input.page ?? 1;
  const pageSize = input.page_size ?? 20;
  const filtered = applyFilters(query, input, spec.filters);

  const countRow = await filtered
    .clearSelect()
    .select((eb: Eb) => eb.fn.countAll().as('count'))
    .executeTakeFirst();
  const total = Number((countRow as { count?: unknown } | undefined)?.count ?? 0);

  let ordered = filtered;
  const order = ordering(input, spec);
  // Postgres' null placement, spelled out so SQLite sorts the same way.
  for (const [column, direction] of order) {
    ordered = ordered.orderBy(sql.ref(column), (ob) => (direction === 'asc' ? ob.asc().nullsLast() : ob.desc().nullsFirst())) as typeof ordered;
  }
  ordered = ordered.orderBy(sql.ref(spec.tieBreaker), order.at(-1)![1]) as typeof ordered;

  const items = (await ordered
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute()) as Row[];
  const totalPages = Math.ceil(total / pageSize);
  return {
    items,
    pagination: {
      page,
      page_size: pageSize,
      total_count: total,
      total_pages: totalPages,
      has_next: page < totalPages,
      has_prev: page > 1,
      next_page: page < totalPages ? page + 1 : null,
      prev_page: page > 1 ? page - 1 : null,
    },
  };
}
