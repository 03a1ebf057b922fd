/** Storage format for every timestamp: ISO-8601 UTC with milliseconds, so text order = time order. */
export const nowIso = (): string => new Date().toISOString();

export const toIso = (date: Date): string => date.toISOString();

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

/**
 * Parses a range-filter bound. A bare date means the start of that day UTC for a lower bound and
 * the last millisecond of that day for an upper bound, as the Admin API contract documents.
 */
export function parseRangeBound(value: string, bound: 'gte' | 'lte'): string | null {
  if (DATE_ONLY.test(value)) {
    const start = Date.parse(`${value}T00:00:00.000Z`);
    if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== value) return null;
    return new Date(bound === 'gte' ? start : start + 86_400_000 - 1).toISOString();
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : new Date(parsed).toISOString();
}
