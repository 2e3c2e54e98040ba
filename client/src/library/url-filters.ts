import type { SlideListParams } from '../api.ts';

/** The library's filters as they stand in the address bar (`/?q=…&stain=…&sort=name`). */
export type LibraryFilters = Omit<SlideListParams, 'cursor' | 'limit'>;

const KEYS = ['q', 'site', 'case', 'stain', 'format', 'from', 'to', 'sort', 'dir'] as const;

export function filtersFromSearch(search: string): LibraryFilters {
  const p = new URLSearchParams(search);
  const out: LibraryFilters = {};
  for (const k of KEYS) {
    const v = p.get(k)?.trim();
    if (!v) continue;
    if (k === 'sort') {
      if (v === 'date' || v === 'name') out.sort = v;
    } else if (k === 'dir') {
      if (v === 'asc' || v === 'desc') out.dir = v;
    } else if ((k === 'from' || k === 'to') && !/^\d{4}-\d{2}-\d{2}$/.test(v)) continue;
    else out[k] = v;
  }
  return out;
}

/** `?…` for the filters ('' when none), keys in a fixed order so equal filters give equal URLs. */
export function searchOf(f: LibraryFilters): string {
  const p = new URLSearchParams();
  for (const k of KEYS) {
    const v = f[k];
    if (v !== undefined && v !== '') p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The order as one choice: newest or oldest first, name A–Z or Z–A. */
export type Order = 'newest' | 'oldest' | 'name' | 'name-desc';

export function orderOf(f: LibraryFilters): Order {
  if (f.sort === 'name') return f.dir === 'desc' ? 'name-desc' : 'name';
  return f.dir === 'asc' ? 'oldest' : 'newest';
}

export function withOrder(f: LibraryFilters, o: Order): LibraryFilters {
  const { sort: _s, dir: _d, ...rest } = f;
  switch (o) {
    case 'newest':
      return rest;
    case 'oldest':
      return { ...rest, dir: 'asc' };
    case 'name':
      return { ...rest, sort: 'name' };
    case 'name-desc':
      return { ...rest, sort: 'name', dir: 'desc' };
  }
}
