import { describe, expect, it } from 'vitest';
import { featureReason, importOutcome, LIST_PAGE, listedRows, reportOf } from './import-report.ts';

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `a${i}` }));

describe('the annotation list, a page at a time', () => {
  it('lists everything when there are fewer rows than a page', () => {
    const r = rows(12);
    expect(listedRows(r, LIST_PAGE, null)).toBe(r);
  });
  it('lists the first page of a long list', () => {
    expect(listedRows(rows(5000), LIST_PAGE, null)).toHaveLength(LIST_PAGE);
  });
  it('reaches down to the selected annotation when it lies past the page', () => {
    const listed = listedRows(rows(5000), LIST_PAGE, 'a3210');
    expect(listed).toHaveLength(3211);
    expect(listed.at(-1)!.id).toBe('a3210');
    expect(listedRows(rows(5000), LIST_PAGE, 'a5')).toHaveLength(LIST_PAGE);
    expect(listedRows(rows(5000), LIST_PAGE, 'gone')).toHaveLength(LIST_PAGE);
  });
});

describe('what a GeoJSON import reports', () => {
  it('a whole import: how many, from which file', () => {
    expect(importOutcome('x.geojson', 7, [])).toEqual({
      ok: true,
      text: 'Imported 7 annotations from x.geojson.',
    });
    expect(importOutcome('x.geojson', 1, []).text).toBe('Imported 1 annotation from x.geojson.');
  });
  it('a partial import: stored of all, and each refused feature', () => {
    const errors = [
      { index: 1, reason: 'features[1]: LineString has 1 point' },
      { index: 4, reason: 'features[4]: unsupported geometry Circle' },
    ];
    const o = importOutcome('p.geojson', 3, errors);
    expect(o.ok).toBe(true);
    expect(o.text).toBe('Imported 3 of 5 features from p.geojson; 2 could not be imported:');
    expect(o.errors).toBe(errors);
    expect(errors.map(featureReason)).toEqual(['LineString has 1 point', 'unsupported geometry Circle']);
  });
  it('counts the features past the listed thousand', () => {
    const errors = [
      ...Array.from({ length: 1000 }, (_, i) => ({ index: i, reason: `features[${i}]: bad` })),
      { index: -1, reason: '250 more bad features (not listed)' },
    ];
    const o = importOutcome('big.geojson', 0, errors);
    expect(o.ok).toBe(false);
    expect(o.text).toBe('Imported 0 of 1250 features from big.geojson; 1250 could not be imported:');
  });
  it('reads the report out of an error body, or nothing', () => {
    const body = { code: 'GEOJSON_INVALID', message: 'm', errors: [{ index: 0, reason: 'features[0]: x' }] };
    expect(reportOf(body)).toEqual({ errors: body.errors });
    expect(reportOf({ code: 'X', message: 'm' })).toBeNull();
    expect(reportOf({ errors: [] })).toBeNull();
    expect(reportOf(null)).toBeNull();
  });
});
