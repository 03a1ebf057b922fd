/**
 * A small TOML writer for the telemt config (specs/core-node.md §3.2): tables, arrays of tables,
 * strings, integers, booleans and arrays of those. Enough for config files; no dates or floats.
 */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue | undefined;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

const tomlString = (s: string): string =>
  `"${s.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;

const tomlKey = (key: string): string => (/^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key));

const isTable = (v: unknown): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTableArray = (v: unknown): v is TomlTable[] => Array.isArray(v) && v.length > 0 && v.every(isTable);

function inline(value: TomlValue): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`TOML writer: ${value} is not a safe integer`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  return `{ ${Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${tomlKey(k)} = ${inline(v!)}`)
    .join(', ')} }`;
}

function writeTable(out: string[], path: string[], table: TomlTable, header: string | null): void {
  const entries = Object.entries(table).filter((e): e is [string, TomlValue] => e[1] !== undefined);
  const scalars = entries.filter(([, v]) => !isTable(v) && !isTableArray(v));
  // A table holding only sub-tables needs no header of its own: `[a.b]` defines `a` implicitly.
  const onlyTables = scalars.length === 0 && entries.length > 0 && header?.startsWith('[[') === false;
  if (header !== null && !onlyTables) {
    if (out.length > 0) out.push('');
    out.push(header);
  }
  for (const [k, v] of scalars) out.push(`${tomlKey(k)} = ${inline(v)}`);
  for (const [k, v] of entries) {
    const sub = [...path, tomlKey(k)];
    if (isTable(v)) writeTable(out, sub, v, `[${sub.join('.')}]`);
    else if (isTableArray(v)) for (const item of v) writeTable(out, sub, item, `[[${sub.join('.')}]]`);
  }
}

/** Serialises a document; keys keep their insertion order, so equal input gives equal text. */
export function toToml(doc: TomlTable): string {
  const out: string[] = [];
  writeTable(out, [], doc, null);
  return `${out.join('\n')}\n`;
}
