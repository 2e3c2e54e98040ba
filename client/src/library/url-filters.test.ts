import { describe, expect, it } from 'vitest';
import { filtersFromSearch, orderOf, searchOf, withOrder } from './url-filters.ts';

describe('library filters in the address bar', () => {
  it('round-trips the filters in a fixed key order and drops what the server would refuse', () => {
    const f = filtersFromSearch('?stain=he&q=S26%20A1&sort=name&dir=up&from=2026-01-01&to=soon');
    expect(f).toEqual({ q: 'S26 A1', stain: 'he', from: '2026-01-01', sort: 'name' });
    expect(searchOf(f)).toBe('?q=S26+A1&stain=he&from=2026-01-01&sort=name');
    expect(searchOf({})).toBe('');
  });

  it('one order choice maps to sort and direction, newest first by default', () => {
    expect(orderOf({})).toBe('newest');
    expect(withOrder({ q: 'x', sort: 'name' }, 'oldest')).toEqual({ q: 'x', dir: 'asc' });
    expect(orderOf(withOrder({}, 'name-desc'))).toBe('name-desc');
    expect(withOrder({ sort: 'name', dir: 'desc' }, 'newest')).toEqual({});
  });
});
