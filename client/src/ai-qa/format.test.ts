import { describe, expect, it } from 'vitest';
import type { AiQaAlgorithmDto, AiQaDto } from '../../../protocol/index.ts';
import {
  formatDay,
  formatDuration,
  formatPercent,
  linePath,
  linearScale,
  parseQaFilter,
  qaApiQuery,
  qaFilterQuery,
  qaTotals,
  tickIndexes,
  trendSeries,
  weekRange,
} from './format.ts';

function algo(id: string, version: string, more: Partial<AiQaAlgorithmDto> = {}): AiQaAlgorithmDto {
  return {
    algorithm: { id, name: 'Tumour finder', version, enabled: true },
    runs: { total: 0, done: 0, failed: 0, failures: {} },
    slideVerdicts: { accepted: 0, rejected: 0, agreement: null },
    findingVerdicts: { accepted: 0, rejected: 0, agreement: null },
    timeToResult: null,
    weekly: [],
    discordant: [],
    ...more,
  };
}
const week = (weekStart: string, accepted: number, rejected: number) => ({
  weekStart,
  runs: accepted + rejected,
  done: accepted + rejected,
  failed: 0,
  accepted,
  rejected,
  agreement: accepted + rejected ? accepted / (accepted + rejected) : null,
});

describe('AI quality figures: formatting', () => {
  it('agreement is a percentage with at most one decimal, a dash when nothing was judged', () => {
    expect(formatPercent(1 / 3)).toBe('33.3 %');
    expect(formatPercent(1)).toBe('100 %');
    expect(formatPercent(0)).toBe('0 %');
    expect(formatPercent(0.5)).toBe('50 %');
    expect(formatPercent(0.9999)).toBe('100 %');
    expect(formatPercent(null)).toBe('–');
  });

  it('durations in the two largest units that matter', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(45.4)).toBe('45 s');
    expect(formatDuration(600)).toBe('10 min');
    expect(formatDuration(1800)).toBe('30 min');
    expect(formatDuration(5400)).toBe('1 h 30 min');
    expect(formatDuration(7200)).toBe('2 h');
    expect(formatDuration(8 * 86_400 + 120)).toBe('8 d');
    expect(formatDuration(86_400 + 2 * 3600)).toBe('1 d 2 h');
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(undefined)).toBe('–');
    expect(formatDuration(-1)).toBe('–');
  });

  it('days are read in UTC', () => {
    expect(formatDay('2026-03-02')).toBe('2 Mar');
    expect(formatDay('2026-03-31T23:59:59.999Z', true)).toBe('31 Mar 2026');
  });

  it('filters round-trip through the query string; the end date counts whole', () => {
    const f = parseQaFilter(
      '?site=north&from=2026-03-01&to=2026-03-31&algorithm=0b4c2f8e-1d2a-4c3b-9e8f-123456789abc',
    );
    expect(f).toEqual({
      site: 'north',
      from: '2026-03-01',
      to: '2026-03-31',
      algorithm: '0b4c2f8e-1d2a-4c3b-9e8f-123456789abc',
    });
    expect(parseQaFilter(qaFilterQuery(f))).toEqual(f);
    expect(parseQaFilter('?from=yesterday&algorithm=<x>')).toEqual({
      site: '',
      from: '',
      to: '',
      algorithm: '',
    });
    expect(qaFilterQuery({ site: '', from: '', to: '', algorithm: '' })).toBe('');
    const api = qaApiQuery(f);
    expect(api.get('from')).toBe('2026-03-01T00:00:00.000Z');
    expect(api.get('to')).toBe('2026-03-31T23:59:59.999Z');
  });

  it('totals add every algorithm shown; agreement over all verdicts, not the mean of rates', () => {
    const qa: AiQaDto = {
      site: 'north',
      from: '',
      to: '',
      algorithms: [
        algo('a', '1', {
          runs: { total: 4, done: 3, failed: 1, failures: { timeout: 1 } },
          slideVerdicts: { accepted: 1, rejected: 2, agreement: 1 / 3 },
        }),
        algo('b', '2', {
          runs: { total: 1, done: 1, failed: 0, failures: {} },
          slideVerdicts: { accepted: 1, rejected: 0, agreement: 1 },
        }),
      ],
    };
    expect(qaTotals(qa)).toEqual({
      runs: 5,
      failed: 1,
      accepted: 2,
      rejected: 2,
      agreement: 0.5,
      discordant: 0,
    });
  });
});

describe('AI quality figures: the trend plot', () => {
  it('a linear scale maps the domain onto the range, inverted for a y axis', () => {
    const y = linearScale(0, 1, 212, 12);
    expect(y(0)).toBe(212);
    expect(y(1)).toBe(12);
    expect(y(0.5)).toBe(112);
    const x = linearScale(0, 4, 48, 700);
    expect(x(2)).toBe(374);
    expect(linearScale(3, 3, 0, 100)(3)).toBe(50);
  });

  it('the week axis holds every Monday between the first and the last week', () => {
    expect(weekRange(['2026-03-16', '2026-03-02'])).toEqual(['2026-03-02', '2026-03-09', '2026-03-16']);
    expect(weekRange([])).toEqual([]);
    // Across the end of daylight saving time in Europe: still whole UTC weeks.
    expect(weekRange(['2026-10-19', '2026-11-02'])).toEqual(['2026-10-19', '2026-10-26', '2026-11-02']);
  });

  it('ticks: at most the number asked, first and last always', () => {
    expect(tickIndexes(0, 8)).toEqual([]);
    expect(tickIndexes(3, 8)).toEqual([0, 1, 2]);
    const t = tickIndexes(26, 8);
    expect(t.length).toBeLessThanOrEqual(8);
    expect(t[0]).toBe(0);
    expect(t.at(-1)).toBe(25);
    expect(t).toEqual([...t].sort((a, b) => a - b));
  });

  it('series: one per algorithm version on the shared axis, weeks without verdicts left out', () => {
    const qa: AiQaDto = {
      site: null,
      from: '',
      to: '',
      algorithms: [
        algo('a', '1', { weekly: [week('2026-03-02', 1, 0), week('2026-03-16', 0, 2)] }),
        algo('b', '2', { weekly: [week('2026-03-09', 1, 0), { ...week('2026-03-16', 0, 0), runs: 2 }] }),
      ],
    };
    const { weeks, series } = trendSeries(qa);
    expect(weeks).toEqual(['2026-03-02', '2026-03-09', '2026-03-16']);
    expect(series.map((s) => s.label)).toEqual(['Tumour finder 1', 'Tumour finder 2']);
    expect(series[0]!.points.map((p) => [p.i, p.agreement, p.judged])).toEqual([
      [0, 1, 1],
      [2, 0, 2],
    ]);
    expect(series[1]!.points.map((p) => p.i)).toEqual([1]);
  });

  it('line paths', () => {
    expect(
      linePath([
        { x: 1, y: 2 },
        { x: 3.25, y: 4 },
      ]),
    ).toBe('M1.0,2.0 L3.3,4.0');
    expect(linePath([])).toBe('');
  });
});
