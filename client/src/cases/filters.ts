import type { Subspecialty } from '../../../protocol/cases.ts';
import { SUBSPECIALTIES } from './constants.ts';

/** The dashboard's filters; empty = all. Kept in the page's query string. */
export interface DashboardFilter {
  site: string;
  subspecialty: Subspecialty | '';
}

export function parseFilter(search: string): DashboardFilter {
  const q = new URLSearchParams(search);
  const site = (q.get('site') ?? '').trim();
  const s = q.get('subspecialty') ?? '';
  const subspecialty = (SUBSPECIALTIES as readonly string[]).includes(s) ? (s as Subspecialty) : '';
  return { site, subspecialty };
}

/** "?site=north&subspecialty=gi", or "" with no filter; the order is fixed so URLs compare equal. */
export function filterQuery(f: DashboardFilter): string {
  const q = new URLSearchParams();
  if (f.site) q.set('site', f.site);
  if (f.subspecialty) q.set('subspecialty', f.subspecialty);
  const s = q.toString();
  return s ? `?${s}` : '';
}
