import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../../protocol/index.ts';
import { HttpError } from '../http/errors.ts';

/**
 * Opaque keyset cursors: the sort a page was read in and the last row's sort key and id, as
 * base64url JSON. A cursor only places the next page after a row; what may be seen is decided by
 * the query, so a forged cursor shows nothing it should not.
 */
export interface Cursor {
  /** The list and sort order it belongs to, e.g. "slides:date:desc". */
  order: string;
  key: string | number;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.order, c.key, c.id])).toString('base64url');
}

const badCursor = (why: string): HttpError =>
  new HttpError('INVALID_CURSOR', `Expected cursor to be a nextCursor this list gave (${why})`);

/** The cursor of `raw` for a list read in `order`; null for the first page (empty or absent). */
export function decodeCursor(raw: unknown, order: string, keyKind: 'string' | 'number'): Cursor | null {
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string' || raw.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(raw))
    throw badCursor('not a cursor');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('not a cursor');
  }
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    typeof v[0] !== 'string' ||
    typeof v[2] !== 'string' ||
    v[2].length > 64 ||
    (keyKind === 'string' ? typeof v[1] !== 'string' : !Number.isSafeInteger(v[1]))
  )
    throw badCursor('not a cursor');
  if (v[0] !== order) throw badCursor(`it was given for another list or sort order`);
  return { order, key: v[1] as string | number, id: v[2] };
}

/** `?limit=`: 1 to MAX_PAGE_LIMIT, default DEFAULT_PAGE_LIMIT. */
export function pageLimit(raw: unknown, max = MAX_PAGE_LIMIT, dflt = DEFAULT_PAGE_LIMIT): number {
  if (raw === undefined || raw === '') return dflt;
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected limit to be an integer between 1 and ${max} but received ${JSON.stringify(String(raw).slice(0, 20))}`,
    );
  return n;
}

/** A query parameter that must match `re` when given. */
export function param(q: Record<string, unknown>, name: string, re: RegExp): string | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !re.test(v))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ${name} to match ${re.source} but received ${JSON.stringify(String(v).slice(0, 64))}`,
    );
  return v;
}

/** Case-blind over ASCII, byte order otherwise: the sort key the database indexes (migration 0014). */
export function nameKey(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** Byte order of UTF-8, as SQLite and PostgreSQL's "C" collation compare. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `%`, `_` and `\` escaped for LIKE … ESCAPE '\'. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z?)?$/;

/** `from`/`to` as ISO bounds: a date alone is the whole day (`to` up to its end). */
export function dateRange(q: Record<string, unknown>): { from?: string; before?: string } {
  const from = param(q, 'from', DATE);
  const to = param(q, 'to', DATE);
  const iso = (s: string, end: boolean): string => {
    const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s.endsWith('Z') ? s : `${s}Z`);
    if (Number.isNaN(t)) throw new HttpError('INVALID_PARAMETER', `Expected a date but received ${s}`);
    return new Date(end && s.length === 10 ? t + 86_400_000 : end ? t + 1 : t).toISOString();
  };
  return { ...(from ? { from: iso(from, false) } : {}), ...(to ? { before: iso(to, true) } : {}) };
}
