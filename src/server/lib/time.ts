/** Storage format for every timestamp: ISO-8601 UTC with milliseconds, so text order = time order. */
export const nowIso = (): string => new Date().toISOString();

/** Admin API resource timestamps are second precision: `2025-06-09T08:00:00Z`. */
export function toSecondPrecision(iso: string): string;
export function toSecondPrecision(iso: string | null): string | null;
export function toSecondPrecision(iso: string | null): string | null {
  return iso === null ? null : `${iso.slice(0, 19)}Z`;
}

/** `meta.timestamp` and CloudEvents `time`: microsecond precision. */
export function microsecondTimestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000Z`;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):?(\d{2}))$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeapYear = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/**
 * The one converter for every timestamp a client sends: RFC 3339 (`T`, `t` or space; `Z` or an
 * offset) → the storage format, or null when the text names no storable instant. Refused: second
 * 60 (no Date holds a leap second, and clamping would invent a time) and instants whose UTC year
 * leaves 0000–9999 (`+010000-…` and `-000001-…` break the text ordering the database relies on).
 * Fields are read by hand: Date.parse is lenient in ways that differ between spellings.
 */
export function canonicalTimestamp(value: string): string | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  const offsetMinutes = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && isLeapYear(year) ? 29 : DAYS[month - 1]!)) return null;
  if (hour > 23 || minute > 59 || second > 59 || Number(m[9] ?? 0) > 23 || Number(m[10] ?? 0) > 59) return null;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  const iso = new Date(date.getTime() - offsetMinutes * 60_000).toISOString();
  return /^\d{4}-/.test(iso) ? iso : null;
}

/** canonicalTimestamp for a value the date-time format already admitted. */
export function storedTimestamp(value: string): string {
  const iso = canonicalTimestamp(value);
  if (iso === null) throw new RangeError(`not a storable timestamp: ${value.slice(0, 64)}`);
  return iso;
}

/**
 * Parses a range-filter bound. A bare date means the start of that day UTC for a lower bound and
 * the last millisecond of that day for an upper bound, as the Admin API contract documents.
 */
export function parseRangeBound(value: string, bound: 'gte' | 'lte'): string | null {
  if (DATE_ONLY.test(value)) {
    const start = canonicalTimestamp(`${value}T00:00:00Z`);
    if (start === null) return null;
    return bound === 'gte' ? start : new Date(Date.parse(start) + 86_400_000 - 1).toISOString();
  }
  return canonicalTimestamp(value);
}
