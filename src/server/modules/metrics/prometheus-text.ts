/**
 * Parser for the Prometheus text exposition format 0.0.4 (what node_exporter, prom-client and the
 * Nodeplane agent emit). Snapshots arrive from agents we do not control, so a malformed line is
 * reported in `errors` and skipped instead of failing the whole text: one bad exporter line must
 * not hide the other figures of a node.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the exporter wrote one. */
  timestampMs: number | null;
}

export interface ParseError {
  /** 1-based line number in the text. */
  line: number;
  message: string;
}

export interface ParsedMetrics {
  samples: Sample[];
  help: Map<string, string>;
  types: Map<string, string>;
  errors: ParseError[];
}

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

class LineError extends Error {}

/** Accepts what Go's strconv.ParseFloat accepts in exporters' output: decimals, ±Inf, NaN. */
export function parseSampleValue(token: string): number | null {
  if (DECIMAL.test(token)) return Number(token);
  const lower = token.toLowerCase();
  if (/^[+-]?inf(inity)?$/.test(lower)) return lower.startsWith('-') ? -Infinity : Infinity;
  if (lower === 'nan') return Number.NaN;
  return null;
}

export function parsePrometheusText(text: string): ParsedMetrics {
  const result: ParsedMetrics = { samples: [], help: new Map(), types: new Map(), errors: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    try {
      if (line.trimStart().startsWith('#')) parseComment(line, result);
      else if (line.trim() !== '') result.samples.push(parseSample(line));
    } catch (error) {
      if (!(error instanceof LineError)) throw error;
      result.errors.push({ line: i + 1, message: error.message });
    }
  }
  return result;
}

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

class Cursor {
  pos = 0;
  constructor(readonly line: string) {}

  get ch(): string | undefined {
    return this.line[this.pos];
  }

  skipBlanks(): number {
    const start = this.pos;
    while (isBlank(this.ch)) this.pos++;
    return this.pos - start;
  }

  match(pattern: RegExp, what: string): string {
    pattern.lastIndex = this.pos;
    const m = pattern.exec(this.line);
    if (!m) throw new LineError(`expected ${what} at column ${this.pos + 1}`);
    this.pos += m[0].length;
    return m[0];
  }

  expect(ch: string): void {
    if (this.ch !== ch) throw new LineError(`expected "${ch}" at column ${this.pos + 1}`);
    this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (this.ch !== undefined && !isBlank(this.ch)) this.pos++;
    return this.line.slice(start, this.pos);
  }

  rest(): string {
    return this.line.slice(this.pos);
  }
}

/** `# HELP name text` and `# TYPE name type`; any other comment is ignored, as Prometheus does. */
function parseComment(line: string, result: ParsedMetrics): void {
  const c = new Cursor(line);
  c.skipBlanks();
  c.expect('#');
  c.skipBlanks();
  const keyword = c.token();
  if (keyword !== 'HELP' && keyword !== 'TYPE') return;
  if (c.skipBlanks() === 0) throw new LineError(`${keyword} needs a metric name`);
  const name = c.match(METRIC_NAME, 'a metric name');
  if (c.ch !== undefined && c.skipBlanks() === 0) throw new LineError(`invalid metric name in ${keyword}`);
  if (keyword === 'HELP') {
    result.help.set(name, unescapeHelp(c.rest()));
    return;
  }
  const type = c.rest().trim();
  if (!TYPES.has(type)) throw new LineError(`unknown metric type "${type}"`);
  result.types.set(name, type);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\([\\n])/g, (_, ch: string) => (ch === 'n' ? '\n' : '\\'));
}

function parseSample(line: string): Sample {
  const c = new Cursor(line);
  c.skipBlanks();
  const name = c.match(METRIC_NAME, 'a metric name');
  let separated = c.skipBlanks() > 0;
  const labels: Record<string, string> = {};
  if (c.ch === '{') {
    c.pos++;
    parseLabels(c, labels);
    // Like Prometheus's own parser, a value may follow the closing brace directly.
    c.skipBlanks();
    separated = true;
  }
  if (c.ch === undefined) throw new LineError('missing sample value');
  if (!separated) throw new LineError(`unexpected "${c.ch}" at column ${c.pos + 1}`);
  const valueToken = c.token();
  const value = parseSampleValue(valueToken);
  if (value === null) throw new LineError(`invalid sample value "${valueToken}"`);
  c.skipBlanks();
  let timestampMs: number | null = null;
  if (c.ch !== undefined) {
    const tsToken = c.token();
    if (!INTEGER.test(tsToken)) throw new LineError(`invalid timestamp "${tsToken}"`);
    timestampMs = Number(tsToken);
    c.skipBlanks();
    if (c.ch !== undefined) throw new LineError(`unexpected text after timestamp: "${c.rest()}"`);
  }
  return { name, labels, value, timestampMs };
}

/** After `{`: `name="value"` pairs, comma separated, a trailing comma allowed, up to `}`. */
function parseLabels(c: Cursor, labels: Record<string, string>): void {
  for (;;) {
    c.skipBlanks();
    if (c.ch === '}') {
      c.pos++;
      return;
    }
    const label = c.match(LABEL_NAME, 'a label name');
    if (Object.hasOwn(labels, label)) throw new LineError(`duplicate label "${label}"`);
    c.skipBlanks();
    c.expect('=');
    c.skipBlanks();
    c.expect('"');
    labels[label] = readLabelValue(c);
    c.skipBlanks();
    if (c.ch === ',') {
      c.pos++;
      continue;
    }
    if (c.ch === '}') {
      c.pos++;
      return;
    }
    throw new LineError(c.ch === undefined ? 'unterminated label set' : `expected "," or "}" at column ${c.pos + 1}`);
  }
}

/** After the opening quote; the format defines exactly three escapes: \\ \" \n. */
function readLabelValue(c: Cursor): string {
  let out = '';
  for (;;) {
    const ch = c.ch;
    if (ch === undefined) throw new LineError('unterminated label value');
    c.pos++;
    if (ch === '"') return out;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const escaped = c.ch;
    c.pos++;
    if (escaped === '\\' || escaped === '"') out += escaped;
    else if (escaped === 'n') out += '\n';
    else throw new LineError(`invalid escape sequence "\\${escaped ?? ''}" in label value`);
  }
}

/** Samples grouped by name, with the lookups the summaries need. */
export class MetricIndex {
  private readonly byName = new Map<string, Sample[]>();

  constructor(samples: Sample[]) {
    for (const s of samples) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  static fromText(text: string): MetricIndex {
    return new MetricIndex(parsePrometheusText(text).samples);
  }

  all(name: string): Sample[] {
    return this.byName.get(name) ?? [];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Value of the first series whose labels include `match`, or null (absent or not finite). */
  value(name: string, match: Record<string, string> = {}): number | null {
    const sample = this.all(name).find((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
    return sample && Number.isFinite(sample.value) ? sample.value : null;
  }

  /** Sum of every finite series of a name (a labelled counter's total), or null when none exist. */
  sum(name: string): number | null {
    const finite = this.all(name).filter((s) => Number.isFinite(s.value));
    return finite.length === 0 ? null : finite.reduce((acc, s) => acc + s.value, 0);
  }
}
