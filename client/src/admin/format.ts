import type { LeavePeriodDto, Role } from '../../../protocol/index.ts';

/** Roles with a caseload: subspecialties and weekly capacity go with them. */
export function hasCaseload(role: Role): boolean {
  return role === 'pathologist' || role === 'specialist';
}

/** A local date as YYYY-MM-DD, `offset` days from today (the server counts leave in local days too). */
export function today(offset = 0, now = new Date()): string {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "3 Mar 2026" from "2026-03-03" (no time zone: a leave day is a calendar day). */
export function dayText(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return `${d} ${MONTHS[m - 1] ?? '?'} ${y}`;
}

/** "3 Mar 2026 – 9 Mar 2026", or "from 3 Mar 2026, until further notice". */
export function leaveText(l: Pick<LeavePeriodDto, 'from' | 'to'>): string {
  if (l.to === null) return `from ${dayText(l.from)}, until further notice`;
  if (l.to === l.from) return dayText(l.from);
  return `${dayText(l.from)} – ${dayText(l.to)}`;
}
