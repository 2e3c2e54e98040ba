import type { CaseHistoryEntryDto } from '../../../protocol/case-page.ts';
import type { CaseStatus, Priority } from '../../../protocol/cases.ts';
import { CASE_STATUSES, PRIORITIES, statusLabel } from './constants.ts';

/** protocol/case-page.ts's REPORT_UNDO_MS (copied: a value import would bring the protocol's zod along). */
export const REPORT_UNDO_MS = 10_000;

/** The case page of an accession. */
export function casePath(accession: string): string {
  return `/cases/${encodeURIComponent(accession)}`;
}

/** `/cases/{accession}` → the accession; anything else → null. */
export function caseAccessionOf(pathname: string): string | null {
  const m = /^\/cases\/([^/]+)\/?$/.exec(pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

/** A slide opened in the viewer as part of a case: the viewer shows the case bar. */
export function caseSlidePath(slideId: string, accession: string): string {
  return `/view/${encodeURIComponent(slideId)}?case=${encodeURIComponent(accession)}`;
}

/** Where a slide sits among a case's slides: its 0-based index (-1: not there), and its neighbours. */
export function neighbours(
  ids: readonly string[],
  current: string,
): { index: number; prev: string | null; next: string | null } {
  const index = ids.indexOf(current);
  if (index < 0) return { index, prev: null, next: null };
  return { index, prev: ids[index - 1] ?? null, next: ids[index + 1] ?? null };
}

/** Where "Start review" goes: the first slide not read yet, else the first slide; null without slides. */
export function startSlide(p: {
  firstUnread: string | null;
  slides: readonly { id: string; visible: boolean }[];
}): string | null {
  return p.firstUnread ?? p.slides.find((s) => s.visible)?.id ?? null;
}

/** Whole seconds left until `until` (rounded up, never below 0). */
export function secondsLeft(until: string | null, now: number): number {
  if (until === null) return 0;
  const t = Date.parse(until);
  if (Number.isNaN(t)) return 0;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** The worklist's filters; empty = all. Kept in the page's query string. */
export interface WorklistFilter {
  priority: Priority | '';
  status: CaseStatus | '';
}

export function parseWorklistFilter(search: string): WorklistFilter {
  const q = new URLSearchParams(search);
  const p = q.get('priority') ?? '';
  const s = q.get('status') ?? '';
  return {
    priority: (PRIORITIES as readonly string[]).includes(p) ? (p as Priority) : '',
    status: (CASE_STATUSES as readonly string[]).includes(s) ? (s as CaseStatus) : '',
  };
}

/** "?priority=urgent&status=in_review", or "" with no filter (fixed order, so URLs compare equal). */
export function worklistFilterQuery(f: WorklistFilter): string {
  const q = new URLSearchParams();
  if (f.priority) q.set('priority', f.priority);
  if (f.status) q.set('status', f.status);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function filterWorklist<T extends { priority: Priority; status: CaseStatus }>(
  items: readonly T[],
  f: WorklistFilter,
): T[] {
  return items.filter(
    (i) => (!f.priority || i.priority === f.priority) && (!f.status || i.status === f.status),
  );
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Names for the ids a history entry holds: people (user id → name) and slides (slide id → name). */
export interface HistoryNames {
  people?: Record<string, string>;
  slides?: Record<string, string>;
}

/** One line of a case's history, in words ("Status set to In review", "Slide A1 H&E attached"). */
export function historyText(e: Pick<CaseHistoryEntryDto, 'action' | 'detail'>, n: HistoryNames = {}): string {
  const d = e.detail;
  const person = (k: string): string | null => {
    const id = str(d[k]);
    return id ? (n.people?.[id] ?? null) : null;
  };
  const slide = str(d.slide) ? (n.slides?.[d.slide as string] ?? null) : null;
  switch (e.action) {
    case 'case.create':
      return 'Case created';
    case 'case.import':
      return 'Case imported';
    case 'case.update': {
      const parts: string[] = [];
      if (str(d.status)) parts.push(`status set to ${statusLabel(d.status as string)}`);
      if ('assignedTo' in d)
        parts.push(d.assignedTo ? `assigned to ${person('assignedTo') ?? 'a pathologist'}` : 'unassigned');
      if (str(d.priority)) parts.push(`priority set to ${d.priority as string}`);
      const s = parts.join(', ') || 'updated';
      return s.charAt(0).toUpperCase() + s.slice(1);
    }
    case 'case.attach_slide':
      return slide ? `Slide ${slide} attached` : 'Slide attached';
    case 'case.detach_slide':
      return slide ? `Slide ${slide} detached` : 'Slide detached';
    case 'case.report':
      return 'Marked reported';
    case 'case.report_undo':
      return `"Mark reported" undone (back to ${statusLabel(str(d.status) ?? '')})`;
    case 'case.second_opinion':
      return `Second opinion asked${str(d.specialist) ? ` of ${d.specialist as string}` : ''}`;
    case 'balance.accept':
      return `Reassigned by balancing${person('to') ? ` to ${person('to')}` : ''}`;
    case 'balance.reject':
      return 'Balancing suggestion turned down';
    default:
      return e.action;
  }
}
