import { describe, expect, it } from 'vitest';
import { closePolygon, measureValue } from './measure.ts';

const mpp = { x: 0.5, y: 0.5 };

describe('measurement values', () => {
  it('a line shows its length in µm', () => {
    expect(
      measureValue(
        {
          kind: 'line',
          points: [
            { x: 0, y: 0 },
            { x: 1000, y: 0 },
          ],
        },
        { x: 0.499, y: 0.499 },
      ).text,
    ).toBe('499.0 µm');
  });
  it('a rectangle from two corners shows area and perimeter', () => {
    const v = measureValue(
      {
        kind: 'rect',
        points: [
          { x: 100, y: 100 },
          { x: 300, y: 200 },
        ],
      },
      mpp,
    );
    expect(v.value).toBeCloseTo(200 * 100 * 0.25);
    expect(v.text).toBe('5,000 µm²');
    expect(v.perimeter).toBe('300.0 µm');
  });
  it('falls back to pixels without calibration', () => {
    expect(
      measureValue(
        {
          kind: 'line',
          points: [
            { x: 0, y: 0 },
            { x: 3, y: 4 },
          ],
        },
        null,
      ).text,
    ).toBe('5 px');
  });
});

describe('closing a polygon', () => {
  it('drops the rubber band and the doubled vertex of a double-click', () => {
    const pts = [
      { x: 0, y: 0 },
      { x: 100, y: 0 },
      { x: 100, y: 100 },
      { x: 100.5, y: 100 },
      { x: 100.5, y: 100 },
    ];
    expect(closePolygon(pts, 2)).toEqual([
      { x: 0, y: 0 },
      { x: 100, y: 0 },
      { x: 100, y: 100 },
    ]);
  });
  it('needs three distinct vertices', () => {
    expect(
      closePolygon(
        [
          { x: 0, y: 0 },
          { x: 1, y: 0 },
          { x: 9, y: 9 },
        ],
        2,
      ),
    ).toBeNull();
  });
});
