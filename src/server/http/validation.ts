/**
 * Request validation for every face: compiled ajv validators (one for bodies, which never coerce,
 * one for params and query strings, which must), and the translation of ajv's errors into
 * `{field/path: [messages]}` in the wording of the Edge Admin contract's validator.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

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
  ajv.addFormat('date-or-date-time', {
    type: 'string',
    validate: (value: string) => (DATE_ONLY.test(value) ? isCalendarDate(value) : isDateTime(value)),
  });
  return ajv;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$/;
const isCalendarDate = (value: string): boolean => {
  const parsed = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed) && new Date(parsed).toISOString().startsWith(value);
};
const isDateTime = (value: string): boolean => DATE_TIME.test(value) && !Number.isNaN(Date.parse(value));

const bodyAjv = buildAjv(false);
const paramAjv = buildAjv(true);

const INT32_MAX = 2_147_483_647;

/**
 * Integers without an explicit bound get the 32-bit range: JSON and query strings can spell 1e99,
 * which is an "integer" to JavaScript but overflows every integer column and OFFSET clause.
 */
function boundIntegers(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(boundIntegers);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = boundIntegers(value);
  if (out.type === 'integer') {
    out.maximum ??= INT32_MAX;
    out.minimum ??= -INT32_MAX - 1;
  }
  return out;
}

export const validatorCompiler: FastifySchemaCompiler<any> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : paramAjv).compile(boundIntegers(schema) as object) as any;

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
    const segments = error.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
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
