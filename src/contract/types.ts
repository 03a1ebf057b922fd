/** Schema building blocks shared by every face, the agent and the dashboard. */
import { type Static, type TSchema, type TUnsafe, Type } from 'typebox';

/** OpenAPI 3.0 `nullable`, understood by ajv, fast-json-stringify and @fastify/swagger alike. */
export const Nullable = <T extends TSchema>(schema: T): TUnsafe<Static<T> | null> => Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });

export const Uuid = Type.String({ format: 'uuid' });
export const Timestamp = Type.String({ format: 'date-time' });
export const NullableTimestamp = Nullable(Timestamp);

/** RFC 1123 label as the Edge Admin contract spells it. */
export const DNS_LABEL = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$';
export const DnsLabel = (maxLength: number) => Type.String({ pattern: DNS_LABEL, maxLength });

/** A date-time, or a bare date meaning a whole UTC day (see lib/time.ts parseRangeBound). */
export const DateBound = Type.String({ format: 'date-or-date-time' });

export const Meta = Type.Object({
  request_id: Type.String(),
  timestamp: Type.String(),
});

export const Pagination = Type.Object({
  page: Type.Integer(),
  page_size: Type.Integer(),
  total_count: Type.Integer(),
  total_pages: Type.Integer(),
  has_next: Type.Boolean(),
  has_prev: Type.Boolean(),
  next_page: Nullable(Type.Integer()),
  prev_page: Nullable(Type.Integer()),
});

export const Single = <T extends TSchema>(data: T) => Type.Object({ data, meta: Meta });

export const Paged = <T extends TSchema>(item: T) => Type.Object({ data: Type.Array(item), meta: Type.Object({ ...Meta.properties, pagination: Pagination }) });

export const ErrorEnvelope = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
  meta: Meta,
});

export const PageParams = {
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  order_by: Type.Optional(Type.String({ maxLength: 500 })),
  order_directions: Type.Optional(Type.String({ maxLength: 500 })),
  inserted_at__gte: Type.Optional(DateBound),
  inserted_at__lte: Type.Optional(DateBound),
  updated_at__gte: Type.Optional(DateBound),
  updated_at__lte: Type.Optional(DateBound),
};

/** Query schema of a list endpoint: closed, so an unknown parameter is a 400. */
export const ListQuery = <P extends Record<string, TSchema>>(filters: P) => Type.Object({ ...PageParams, ...filters }, { additionalProperties: false });

export type ListQueryInput = { page?: number; page_size?: number; order_by?: string; order_directions?: string } & Record<string, unknown>;
