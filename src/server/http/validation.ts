/**
 * Request validation for every face: compiled ajv validators (one for bodies, which never coerce,
 * one for params and query strings, which must), and the translation of ajv's errors into
 * `{field/path: [messages]}` in the wording of the Edge Admin contract's validator.
 *
 * Hostile values are refused here, once for every face, rather than route by route: NUL in any
 * string (Postgres text cannot hold it), timestamps no storage column can order (lib/time.ts), and
 * JSON nested deeper than any real payload (deep values overflow the stack of whatever walks them).
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { canonicalTimestamp } from '../lib/time.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Deepest nesting a free-form JSON field (Xray settings, error details, headers) may have. */
const MAX_FIELD_DEPTH = 32;
/** Deepest nesting of a whole JSON body: above every schema's own depth plus a free-form field. */
const MAX_BODY_DEPTH = 64;

const NUL_MESSAGE = 'must not contain NUL (\\u0000) characters';

/** Depth of `value` beyond `limit` (true) or not; recursion stops at the limit, so it is bounded. */
function deeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (limit === 0) return true;
  for (const child of Object.values(value)) if (deeperThan(child, limit - 1)) return true;
  return false;
}

/** A NUL in any string or key of a free-form value (depth already bounded). */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (value === null || typeof value !== 'object') return false;
  for (const [key, child] of Object.entries(value)) if (key.includes('\0') || hasNul(child)) return true;
  return false;
}

function buildAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  addFormats(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: (value: string) => canonicalTimestamp(value) !== null });
  ajv.addFormat('date-or-date-time', {
    type: 'string',
    validate: (value: string) => (DATE_ONLY.test(value) ? canonicalTimestamp(`${value}T00:00:00Z`) !== null : canonicalTimestamp(value) !== null),
  });
  ajv.addKeyword({
    keyword: 'noNul',
    type: 'string',
    schemaType: 'boolean',
    error: { message: NUL_MESSAGE },
    validate: (_: boolean, data: string) => !data.includes('\0'),
  });
  ajv.addKeyword({
    keyword: 'freeJson',
    schemaType: 'boolean',
    errors: true,
    validate: function freeJson(_: boolean, data: unknown) {
      const self = freeJson as unknown as { errors: Partial<ErrorObject>[] };
      if (deeperThan(data, MAX_FIELD_DEPTH)) self.errors = [{ keyword: 'maxDepth', params: { limit: MAX_FIELD_DEPTH } }];
      else if (hasNul(data)) self.errors = [{ keyword: 'noNul', params: {}, message: NUL_MESSAGE }];
      else return true;
      return false;
    },
  });
  return ajv;
}

const bodyAjv = buildAjv(false);
const paramAjv = buildAjv(true);

const INT32_MAX = 2_147_483_647;

/** Keywords whose value is data, not a schema, and keywords whose value maps names to schemas. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const COMPOSED = ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'const', 'enum', 'properties', 'items'];

/** A schema that takes any JSON (Type.Unknown, an open object, a record): its content is the client's. */
function isFreeForm(schema: Record<string, unknown>): boolean {
  if (schema.type === undefined) return !COMPOSED.some((k) => k in schema);
  if (schema.type !== 'object') return false;
  const extra = schema.additionalProperties;
  return 'patternProperties' in schema || extra === true || (typeof extra === 'object' && extra !== null);
}

/**
 * Rewrites a route schema before compiling: integers without an explicit bound get the 32-bit
 * range (JSON and query strings can spell 1e99, which overflows every integer column and OFFSET
 * clause), every string refuses NUL, and every free-form value is bounded in depth and NUL-free.
 */
function hardenSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(hardenSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DATA_KEYWORDS.has(key)) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, hardenSchema(sub)]));
    } else out[key] = hardenSchema(value);
  }
  const types = [out.type].flat();
  if (types.includes('integer')) {
    out.maximum ??= INT32_MAX;
    out.minimum ??= -INT32_MAX - 1;
  }
  if (types.includes('string')) out.noNul = true;
  if (isFreeForm(out)) out.freeJson = true;
  return out;
}

/** The body parser's guard: a 400 in the face's format before any recursive walk can overflow. */
export function bodyTooDeep(body: unknown): Error | null {
  if (!deeperThan(body, MAX_BODY_DEPTH)) return null;
  const validation = [{ keyword: 'maxDepth', instancePath: '', schemaPath: '', params: { limit: MAX_BODY_DEPTH } }];
  return Object.assign(new Error(`JSON body nested deeper than ${MAX_BODY_DEPTH} levels`), { statusCode: 400, validation });
}

export const validatorCompiler: FastifySchemaCompiler<any> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : paramAjv).compile(hardenSchema(schema) as object) as any;

const jsonType = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
};

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function message(error: ErrorObject): string {
  const p = error.params as Record<string, any>;
  switch (error.keyword) {
    case 'required':
      return `Missing field: ${p.missingProperty}`;
    case 'additionalProperties':
      return `Unexpected field: ${p.additionalProperty}`;
    case 'type':
      return `Invalid ${String(p.type).split(',')[0]}. Got: ${jsonType(error.data)}`;
    case 'enum':
      return 'Invalid value for enum';
    case 'const':
      return 'Invalid value for enum';
    case 'pattern':
      return `Invalid format. Expected ~r/${p.pattern}/`;
    case 'format':
      return `Invalid format. Expected :${p.format}`;
    case 'minLength':
      return `String length is smaller than minLength: ${p.limit}`;
    case 'maxLength':
      return `String length is larger than maxLength: ${p.limit}`;
    case 'minimum':
      return `${error.data} is smaller than minimum ${p.limit}`;
    case 'maximum':
      return `${error.data} is larger than maximum ${p.limit}`;
    case 'minItems':
      return `Array length ${Array.isArray(error.data) ? error.data.length : '?'} is smaller than minItems: ${p.limit}`;
    case 'maxItems':
      return `Array length ${Array.isArray(error.data) ? error.data.length : '?'} is larger than maxItems: ${p.limit}`;
    case 'maxProperties':
      return `Object property count is greater than maxProperties: ${p.limit}`;
    case 'minProperties':
      return `Object property count is smaller than minProperties: ${p.limit}`;
    case 'maxDepth':
      return `Nested deeper than ${p.limit} levels`;
    case 'noNul':
      return capitalize(NUL_MESSAGE);
    default:
      return capitalize(error.message ?? 'is invalid');
  }
}

/** ajv errors → `{path: [messages]}` with `/`-joined segments and no leading slash. */
export function validationDetails(errors: ErrorObject[]): Record<string, string[]> {
  // No prototype: a client can name a field `constructor` or `__proto__`.
  const details: Record<string, string[]> = Object.create(null);
  for (const error of errors) {
    // anyOf/oneOf wrappers repeat what their branches already said.
    if (error.keyword === 'anyOf' || error.keyword === 'oneOf' || error.keyword === 'if') continue;
    const segments = error.instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const p = error.params as Record<string, any>;
    if (error.keyword === 'required') segments.push(p.missingProperty);
    if (error.keyword === 'additionalProperties') segments.push(p.additionalProperty);
    const key = segments.join('/');
    const text = message(error);
    const list = (details[key] ??= []);
    if (!list.includes(text)) list.push(text);
  }
  return details;
}

/**
 * The body validator of `schema` as a plain function, for JSON that arrives inside another value
 * (a decrypted export): the same hardening and the same `{path: [messages]}` details as a body.
 */
export function bodyValidator<T>(schema: object): (value: unknown) => { ok: true; value: T } | { ok: false; details: Record<string, string[]> } {
  const validate = bodyAjv.compile(hardenSchema(schema) as object);
  return (value) => (validate(value) ? { ok: true, value: value as T } : { ok: false, details: validationDetails(validate.errors ?? []) });
}
