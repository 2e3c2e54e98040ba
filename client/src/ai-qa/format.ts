import type { AiQaAlgorithmDto, AiQaDto } from '../../../protocol/index.ts';

/** The page's filters, as in its query string (dates as YYYY-MM-DD, whole days in UTC). */
export interface QaFilter {
  site: string;
  from: string;
  to: string;
  algorithm: string;
}

export const EMPTY_FILTER: QaFilter = { site: '', from: '', to: '', algorithm: '' };

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const ID = /^[0-9a-fA-F-]{1,64}$/;

export function parseQaFilter(search: string): QaFilter {
  const q = new URLSearchParams(search);
  const day = (k: string): string => {
    const v = q.get(k) ?? '';
    return DAY.test(v) ? v : '';
  };
  const algorithm = q.get('algorithm') ?? '';
  return {
    site: q.get('site') ?? '',
    from: day('from'),
    to: day('to'),
    algorithm: ID.test(algorithm) ? algorithm : '',
  };
}

/** The page's own query string ("" or "?site=…"), what the address bar shows. */
export function qaFilterQuery(f: QaFilter): string {
  const q = new URLSearchParams();
  if (f.site) q.set('site', f.site);
  if (f.from) q.set('from', f.from);
  if (f.to) q.set('to', f.to);
  if (f.algorithm) q.set('algorithm', f.algorithm);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The API's query: the end date counts whole (up to its last millisecond, UTC). */
export function qaApiQuery(f: QaFilter): URLSearchParams {
  const q = new URLSearchParams();
  if (f.site) q.set('site', f.site);
  if (f.from) q.set('from', `${f.from}T00:00:00.000Z`);
  if (f.to) q.set('to', `${f.to}T23:59:59.999Z`);
  if (f.algorithm) q.set('algorithm', f.algorithm);
  return q;
}

/** A share as a percentage with one decimal ("33.3 %"); "–" when nothing was judged. */
export function formatPercent(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return '–';
  const v = Math.round(ratio * 1000) / 10;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} %`;
}

/** A duration in the two largest units that matter: "45 s", "10 min", "1 h 30 min", "8 d 2 h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  const m = min % 60;
  if (h < 24) return m ? `${h} h ${m} min` : `${h} h`;
  const d = Math.floor(h / 24);
  const rh = h % 24;
  return rh ? `${d} d ${rh} h` : `${d} d`;
}

/** "2026-03-02" → "2 Mar" (the week's Monday, UTC), or "2 Mar 2026" with the year. */
export function formatDay(day: string, withYear = false): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  const month = d.toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' });
  return `${d.getUTCDate()} ${month}${withYear ? ` ${d.getUTCFullYear()}` : ''}`;
}

export const algorithmLabel = (a: AiQaAlgorithmDto): string => `${a.algorithm.name} ${a.algorithm.version}`;

export const DISCORDANT_KIND = {
  ai_positive_rejected: 'AI positive, pathologist disagreed',
  ai_negative_rejected: 'AI negative, pathologist disagreed',
} as const;

/** Totals over every algorithm shown (for the page's headline figures). */
export function qaTotals(qa: AiQaDto): {
  runs: number;
  failed: number;
  accepted: number;
  rejected: number;
  agreement: number | null;
  discordant: number;
} {
  let runs = 0;
  let failed = 0;
  let accepted = 0;
  let rejected = 0;
  let discordant = 0;
  for (const a of qa.algorithms) {
    runs += a.runs.total;
    failed += a.runs.failed;
    accepted += a.slideVerdicts.accepted;
    rejected += a.slideVerdicts.rejected;
    discordant += a.discordant.length;
  }
  const judged = accepted + rejected;
  return { runs, failed, accepted, rejected, agreement: judged ? accepted / judged : null, discordant };
}

// ---- the trend plot ----

/** A linear map from a domain onto a pixel range (d0 → r0, d1 → r1); a flat domain maps to the middle. */
export function linearScale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

const WEEK_MS = 7 * 86_400_000;

/** Every Monday from the first week to the last (YYYY-MM-DD), so that weeks without runs keep their place. */
export function weekRange(weeks: readonly string[]): string[] {
  if (weeks.length === 0) return [];
  const sorted = [...weeks].sort();
  const first = Date.parse(`${sorted[0]}T00:00:00Z`);
  const last = Date.parse(`${sorted[sorted.length - 1]}T00:00:00Z`);
  const out: string[] = [];
  for (let t = first; t <= last && out.length < 520; t += WEEK_MS)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** At most `max` evenly spaced indexes of `n` items, always the first and the last. */
export function tickIndexes(n: number, max: number): number[] {
  if (n <= 0) return [];
  if (n <= max) return [...Array(n).keys()];
  const step = Math.ceil((n - 1) / (max - 1));
  const out: number[] = [];
  for (let i = 0; i < n - 1; i += step) out.push(i);
  if (n - 1 - out[out.length - 1]! < step / 2) out.pop();
  out.push(n - 1);
  return out;
}

export interface TrendSeries {
  key: string;
  label: string;
  /** One point per judged week: its index on the week axis and the agreement (0..1). */
  points: { i: number; week: string; agreement: number; judged: number }[];
}

/** Agreement per week and algorithm version, on a shared week axis; weeks without verdicts left out. */
export function trendSeries(qa: AiQaDto): { weeks: string[]; series: TrendSeries[] } {
  const weeks = weekRange(qa.algorithms.flatMap((a) => a.weekly.map((w) => w.weekStart)));
  const index = new Map(weeks.map((w, i) => [w, i]));
  const series = qa.algorithms.map((a) => ({
    key: a.algorithm.id,
    label: algorithmLabel(a),
    points: a.weekly.flatMap((w) =>
      w.agreement === null
        ? []
        : [
            {
              i: index.get(w.weekStart)!,
              week: w.weekStart,
              agreement: w.agreement,
              judged: w.accepted + w.rejected,
            },
          ],
    ),
  }));
  return { weeks, series };
}

/** A polyline's `d` through the points (a line broken nowhere: gaps are simply joined). */
export function linePath(points: readonly { x: number; y: number }[]): string {
  return points.map((p, k) => `${k === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}
