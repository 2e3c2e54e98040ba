import { describe, expect, it } from 'vitest';
import type { PathologistDto } from '../../../protocol/cases.ts';
import { filterQuery, parseFilter } from './filters.ts';
import {
  backlogChart,
  breachTone,
  formatDay,
  formatDaysToBreach,
  formatMillis,
  formatPoints,
  formatPts,
  reasonLabel,
  loadBar,
  loadTone,
  sortPathologists,
  turnaroundChart,
  weekLabel,
} from './format.ts';

describe('days to breach', () => {
  it('says days left, and breached past the target', () => {
    expect(formatDaysToBreach(3)).toBe('3 d');
    expect(formatDaysToBreach(2.6)).toBe('3 d');
    expect(formatDaysToBreach(0.5)).toBe('0.5 d');
    expect(formatDaysToBreach(0)).toBe('0 d');
    expect(formatDaysToBreach(-2)).toBe('breached 2 d');
    expect(formatDaysToBreach(-0.25)).toBe('breached 0.3 d');
    expect(formatDaysToBreach(Number.NaN)).toBe('–');
  });
  it('is red within a day and past the target', () => {
    expect(breachTone(5)).toBe('ok');
    expect(breachTone(1.01)).toBe('ok');
    expect(breachTone(1)).toBe('near');
    expect(breachTone(0)).toBe('near');
    expect(breachTone(-0.1)).toBe('breached');
  });
});

describe('formatting', () => {
  it('keeps dates as days', () => {
    expect(formatDay('2025-03-14')).toBe('2025-03-14');
    expect(formatDay(new Date(2025, 2, 14, 9, 30).toISOString())).toBe('2025-03-14');
    expect(formatDay('not a date')).toBe('not a date');
  });
  it('shows points without noise', () => {
    expect(formatPoints(12)).toBe('12');
    expect(formatPoints(12.25)).toBe('12.25');
    expect(formatPoints(0.1 + 0.2)).toBe('0.3');
    expect(formatPts(1)).toBe('1 pt');
    expect(formatPts(3.25)).toBe('3.25 pts');
  });
  it('says how long balancing took', () => {
    expect(formatMillis(0)).toBe('< 1 ms');
    expect(formatMillis(3.4)).toBe('3 ms');
    expect(formatMillis(1234)).toBe('1.2 s');
  });
  it('spells balancing reasons out', () => {
    expect(reasonLabel('over capacity')).toBe('Over capacity');
    expect(reasonLabel('on leave')).toBe('Assigned to someone on leave');
    expect(reasonLabel('something new')).toBe('Something new');
  });
  it('labels weeks', () => {
    expect(weekLabel('2025-03-10')).toBe('10 Mar');
    expect(weekLabel('2025-03-10T00:00:00.000Z')).toBe('10 Mar');
    expect(weekLabel('2025-W07')).toBe('W07');
    expect(weekLabel('week 3')).toBe('week 3');
  });
});

describe('load', () => {
  it('tones: over capacity red, nearly full amber', () => {
    expect(loadTone(10, 20)).toBe('ok');
    expect(loadTone(18, 20)).toBe('high');
    expect(loadTone(20, 20)).toBe('high');
    expect(loadTone(20.5, 20)).toBe('over');
    expect(loadTone(1, 0)).toBe('over');
    expect(loadTone(0, 0)).toBe('ok');
  });
  it('bar: scaled to the larger of load and capacity', () => {
    expect(loadBar(10, 20)).toEqual({ fill: 50, mark: 100 });
    expect(loadBar(30, 20)).toEqual({ fill: 100, mark: 66.7 });
    expect(loadBar(0, 0)).toEqual({ fill: 0, mark: 100 });
    expect(loadBar(-1, 10)).toEqual({ fill: 0, mark: 100 });
  });
  it('sorts the most loaded first, idle people on leave last', () => {
    const p = (name: string, load: number, weeklyCapacity: number, onLeave = false): PathologistDto => ({
      userId: name,
      name,
      siteId: 'n',
      siteName: 'N',
      subspecialties: [],
      weeklyCapacity,
      onLeave,
      load,
      openCases: 0,
    });
    const sorted = sortPathologists([
      p('calm', 5, 20),
      p('away', 0, 20, true),
      p('busy', 30, 20),
      p('nocap', 2, 0),
      p('also calm', 5, 20),
      p('away but loaded', 4, 20, true),
    ]);
    expect(sorted.map((x) => x.name)).toEqual([
      'nocap',
      'busy',
      'also calm',
      'calm',
      'away but loaded',
      'away',
    ]);
  });
});

describe('chart data', () => {
  const sites = [
    { siteId: 'north', siteName: 'North' },
    { siteId: 'south', siteName: 'South' },
  ].map((s) => ({
    ...s,
    openCases: 0,
    unassigned: 0,
    points: 0,
    capacity: 0,
    nearBreach: 0,
    breached: 0,
    secondOpinionsWaiting: 0,
  }));
  it('backlog: a column per site, zeros filled, unknown sites appended', () => {
    const { rows, series } = backlogChart({
      sites,
      backlog: [
        { week: '2025-03-03', bySite: { north: 4 } },
        { week: '2025-03-10', bySite: { north: 5, south: 2, east: 1 } },
      ],
    });
    expect(series).toEqual([
      { key: 'site:north', name: 'North' },
      { key: 'site:south', name: 'South' },
      { key: 'site:east', name: 'east' },
    ]);
    expect(rows).toEqual([
      { week: '2025-03-03', label: '3 Mar', 'site:north': 4, 'site:south': 0, 'site:east': 0 },
      { week: '2025-03-10', label: '10 Mar', 'site:north': 5, 'site:south': 2, 'site:east': 1 },
    ]);
  });
  it('turnaround: rounded, gaps kept', () => {
    expect(
      turnaroundChart({
        turnaround: [
          { week: '2025-03-03', median: 2.345, p90: 6.01, reported: 9 },
          { week: '2025-03-10', median: null, p90: null, reported: 0 },
        ],
      }),
    ).toEqual([
      { week: '2025-03-03', label: '3 Mar', median: 2.3, p90: 6, reported: 9 },
      { week: '2025-03-10', label: '10 Mar', median: null, p90: null, reported: 0 },
    ]);
  });
});

describe('dashboard filters', () => {
  it('round-trip through the query string', () => {
    expect(parseFilter('?site=north&subspecialty=gi')).toEqual({ site: 'north', subspecialty: 'gi' });
    expect(parseFilter('')).toEqual({ site: '', subspecialty: '' });
    expect(parseFilter('?subspecialty=astrology')).toEqual({ site: '', subspecialty: '' });
    expect(filterQuery({ site: 'north', subspecialty: 'gi' })).toBe('?site=north&subspecialty=gi');
    expect(filterQuery({ site: '', subspecialty: '' })).toBe('');
    expect(filterQuery({ site: 'a b', subspecialty: '' })).toBe('?site=a+b');
  });
});
