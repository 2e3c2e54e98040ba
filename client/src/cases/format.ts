import type { DashboardDto, PathologistDto } from '../../../protocol/cases.ts';

/** Whether a case is past its target, within a day of it, or has time left. */
export type BreachTone = 'breached' | 'near' | 'ok';

export function breachTone(daysToBreach: number): BreachTone {
  if (daysToBreach < 0) return 'breached';
  if (daysToBreach <= 1) return 'near';
  return 'ok';
}

/** Whole days, or one decimal under a day ("0.4 d" rather than "0 d"). */
function days(n: number): string {
  const a = Math.abs(n);
  if (a < 1 && a > 0) return a.toFixed(1);
  return String(Math.round(a));
}

/** "3 d", "0.5 d", "breached 2 d". */
export function formatDaysToBreach(daysToBreach: number): string {
  if (!Number.isFinite(daysToBreach)) return '–';
  return daysToBreach < 0 ? `breached ${days(daysToBreach)} d` : `${days(daysToBreach)} d`;
}

/** "2025-03-14" in local time, from an ISO date or date-time. */
export function formatDay(iso: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Points without trailing zeros: 12, 12.5, 12.25. */
export function formatPoints(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return String(Math.round(n * 100) / 100);
}

/** "1 pt", "3.25 pts". */
export function formatPts(n: number): string {
  return `${formatPoints(n)} ${n === 1 ? 'pt' : 'pts'}`;
}

export type LoadTone = 'over' | 'high' | 'ok';

/** Over capacity: red; at 90 % or more: amber. No capacity at all and some load is over. */
export function loadTone(load: number, capacity: number): LoadTone {
  if (load > capacity + 1e-9) return 'over';
  if (capacity > 0 && load / capacity >= 0.9) return 'high';
  return 'ok';
}

/**
 * A load bar's geometry, in percent of the bar's width: the scale is the larger of load and
 * capacity, so an overload shows as a fill past the capacity mark.
 */
export function loadBar(load: number, capacity: number): { fill: number; mark: number } {
  const l = Math.max(0, load);
  const c = Math.max(0, capacity);
  const scale = Math.max(l, c);
  if (scale <= 0) return { fill: 0, mark: 100 };
  const r = (v: number): number => Math.round((v / scale) * 1000) / 10;
  return { fill: r(l), mark: r(c) };
}

/** Most loaded (relative to capacity) first, then by name; on leave after those at work. */
export function sortPathologists(list: readonly PathologistDto[]): PathologistDto[] {
  const ratio = (p: PathologistDto): number =>
    p.weeklyCapacity > 0 ? p.load / p.weeklyCapacity : p.load > 0 ? Infinity : 0;
  return [...list].sort(
    (a, b) =>
      Number(a.onLeave && a.load === 0) - Number(b.onLeave && b.load === 0) ||
      ratio(b) - ratio(a) ||
      a.name.localeCompare(b.name),
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An axis label for a week: "2025-03-10" → "10 Mar", "2025-W11" → "W11"; anything else as is. */
export function weekLabel(week: string): string {
  const d = /^(\d{4})-(\d{2})-(\d{2})/.exec(week);
  if (d) return `${Number(d[3])} ${MONTHS[Number(d[2]) - 1] ?? d[2]}`;
  const w = /^\d{4}-(W\d{1,2})$/.exec(week);
  if (w) return w[1]!;
  return week;
}

export interface Series {
  key: string;
  name: string;
}

export type ChartRow = { week: string; label: string } & Record<string, number | string | null>;

/**
 * Backlog rows for a chart: one row per week, one numeric column per site (0 where a site has no
 * entry that week). Series are the dashboard's sites in order, then any other site the backlog names.
 * Series keys are prefixed so a site id can never clash with `week` or `label`.
 */
export function backlogChart(d: Pick<DashboardDto, 'backlog' | 'sites'>): {
  rows: ChartRow[];
  series: Series[];
} {
  const names = new Map(d.sites.map((s) => [s.siteId, s.siteName]));
  const ids = d.sites.map((s) => s.siteId);
  for (const w of d.backlog) for (const id of Object.keys(w.bySite)) if (!ids.includes(id)) ids.push(id);
  const series = ids.map((id) => ({ key: `site:${id}`, name: names.get(id) ?? id }));
  const rows = d.backlog.map((w) => {
    const row: ChartRow = { week: w.week, label: weekLabel(w.week) };
    for (const id of ids) row[`site:${id}`] = w.bySite[id] ?? 0;
    return row;
  });
  return { rows, series };
}

/** Turnaround rows: weeks with nothing reported keep null (a gap in the line, not a zero). */
export function turnaroundChart(d: Pick<DashboardDto, 'turnaround'>): ChartRow[] {
  return d.turnaround.map((t) => ({
    week: t.week,
    label: weekLabel(t.week),
    median: t.median === null ? null : Math.round(t.median * 10) / 10,
    p90: t.p90 === null ? null : Math.round(t.p90 * 10) / 10,
    reported: t.reported,
  }));
}

/** The server's computation time: "3 ms", "< 1 ms", "1.2 s". */
export function formatMillis(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1) return '< 1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const REASONS: Record<string, string> = {
  'on leave': 'Assigned to someone on leave',
  'over capacity': 'Over capacity',
  unassigned: 'Unassigned',
  'makes room': 'Makes room for a case only this pathologist can take',
};

/** A balancing move's reason, as a sentence; unknown reasons as the server wrote them. */
export function reasonLabel(reason: string): string {
  return REASONS[reason] ?? reason.charAt(0).toUpperCase() + reason.slice(1);
}
