import { type DicomJson, type DicomTag, dicomTag } from '../../tiles/export/dicom-json.ts';
import { HttpError } from '../http/errors.ts';

/**
 * QIDO-RS query parameters (PS3.18 8.3.4) and matching (PS3.4 C.2.2.2) over DICOM JSON datasets:
 * single values, `*` and `?` wildcards, UID lists, date and time ranges, universal matching, and
 * `includefield`, `limit`, `offset`. Fuzzy matching is accepted and ignored; sequence matching is
 * refused.
 */

export interface QidoFilter {
  tag: DicomTag;
  /** As given; empty means universal matching (return the attribute, match anything). */
  value: string;
}

export interface QidoQuery {
  filters: QidoFilter[];
  /** Extra attributes to return: tags, or 'all'. */
  include: Set<string> | 'all';
  limit: number;
  offset: number;
}

export const QIDO_DEFAULT_LIMIT = 100;
export const QIDO_MAX_LIMIT = 1000;
/** Offsets beyond this would make the server walk more of the library than any client pages through. */
export const QIDO_MAX_OFFSET = 100_000;

const bad = (message: string): HttpError => new HttpError('INVALID_PARAMETER', message);

function count(name: string, raw: string, dflt: number, min: number, max: number): number {
  if (raw === '') return dflt;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw bad(
      `Expected integer between ${min} and ${max} for ${name} but received ${JSON.stringify(raw.slice(0, 20))}`,
    );
  return n;
}

/** Request parameters (a key may repeat) as a query; 400 INVALID_PARAMETER for what cannot be matched. */
export function parseQido(params: Record<string, string | string[] | undefined>): QidoQuery {
  const filters: QidoFilter[] = [];
  let include: Set<string> | 'all' = new Set();
  let limit = QIDO_DEFAULT_LIMIT;
  let offset = 0;
  for (const [key, raw] of Object.entries(params)) {
    const values = (Array.isArray(raw) ? raw : [raw ?? '']).map(String);
    const last = values[values.length - 1] ?? '';
    switch (key) {
      case 'limit':
        limit = count('limit', last, QIDO_DEFAULT_LIMIT, 1, QIDO_MAX_LIMIT);
        continue;
      case 'offset':
        offset = count('offset', last, 0, 0, QIDO_MAX_OFFSET);
        continue;
      case 'fuzzymatching':
        if (last !== '' && last !== 'true' && last !== 'false')
          throw bad(
            `Expected true or false for fuzzymatching but received ${JSON.stringify(last.slice(0, 20))}`,
          );
        continue;
      case 'includefield':
        for (const name of values.flatMap((v) => v.split(',')).map((v) => v.trim())) {
          if (name === '') continue;
          if (name === 'all') {
            include = 'all';
            continue;
          }
          const t = dicomTag(name);
          if (!t)
            throw bad(
              `Expected an attribute keyword or tag for includefield but received ${JSON.stringify(name.slice(0, 64))}`,
            );
          if (include !== 'all') include.add(t.tag);
        }
        continue;
    }
    if (key.includes('.'))
      throw bad(`Matching inside sequences is not supported (${JSON.stringify(key.slice(0, 64))})`);
    const tag = dicomTag(key);
    if (!tag)
      throw bad(
        `Expected an attribute keyword or tag as query key but received ${JSON.stringify(key.slice(0, 64))}`,
      );
    if (tag.vr === 'SQ') throw bad(`Matching on sequence ${tag.keyword} is not supported`);
    for (const value of values) filters.push({ tag, value });
  }
  return { filters, include, limit, offset };
}

/** The values of an attribute as strings (person names by their alphabetic form). */
export function attributeStrings(ds: DicomJson, tag: string): string[] {
  const a = ds[tag];
  if (!a?.Value) return [];
  return a.Value.map((v) =>
    v !== null && typeof v === 'object' ? String((v as { Alphabetic?: string }).Alphabetic ?? '') : String(v),
  );
}

/** A glob with `*` (any run) and `?` (one character) as a regular expression. */
function wildcard(pattern: string, caseBlind: boolean): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, caseBlind ? 'is' : 's');
}

const RANGE_VRS = new Set(['DA', 'TM', 'DT']);

/** Whether one filter matches a dataset (PS3.4 C.2.2.2). */
export function matches(ds: DicomJson, f: QidoFilter): boolean {
  const v = f.value;
  if (v === '' || v === '*') return true;
  const have = attributeStrings(ds, f.tag.tag);
  const vr = f.tag.vr;
  if (vr === 'UI') {
    const wanted = new Set(v.split(/[\\,]/).map((s) => s.trim()));
    return have.some((h) => wanted.has(h));
  }
  if (RANGE_VRS.has(vr) && v.includes('-')) {
    const [lo = '', hi = ''] = v.split('-', 2).map((s) => s.trim());
    const width = vr === 'DA' ? 8 : lo.length || hi.length;
    return have.some((h) => h !== '' && (lo === '' || h >= lo) && (hi === '' || h.slice(0, width) <= hi));
  }
  const alternatives = vr === 'UI' ? [v] : v.split('\\');
  // Person names match whatever the case (as most archives do); other strings as given.
  const caseBlind = vr === 'PN';
  return alternatives.some((alt) => {
    if (/[*?]/.test(alt)) {
      const re = wildcard(alt, caseBlind);
      return have.some((h) => re.test(h));
    }
    if (RANGE_VRS.has(vr)) return have.some((h) => h.startsWith(alt) && (vr !== 'DA' || h === alt));
    return have.some((h) => (caseBlind ? h.toLowerCase() === alt.toLowerCase() : h === alt));
  });
}

export function matchesAll(ds: DicomJson, filters: readonly QidoFilter[]): boolean {
  return filters.every((f) => matches(ds, f));
}

/** The filter values given for one attribute (keyword), non-universal ones only. */
export function filterValues(q: QidoQuery, keyword: string): string[] {
  return q.filters
    .filter((f) => f.tag.keyword === keyword && f.value !== '' && f.value !== '*')
    .map((f) => f.value);
}

/**
 * A result: the level's return keys, those matched on, and those asked for with includefield
 * (everything with `all`).
 */
export function pick(ds: DicomJson, returnKeys: readonly string[], q: QidoQuery): DicomJson {
  if (q.include === 'all') return ds;
  const keep = new Set([...returnKeys, ...q.include, ...q.filters.map((f) => f.tag.tag)]);
  const out: DicomJson = {};
  for (const tag of Object.keys(ds)) if (keep.has(tag)) out[tag] = ds[tag]!;
  return out;
}
