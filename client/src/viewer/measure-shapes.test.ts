import { describe, expect, it } from 'vitest';
import {
  ellipsePerimeter,
  formatMicrometres,
  formatSquareMillimetres,
  measureShape,
  measureText,
  polygonWithHolesArea,
  ringArea,
  ringLength,
} from './measure-shapes.ts';

const MPP = { x: 0.5, y: 0.5 };
const square = (x: number, y: number, s: number): [number, number][] => [
  [x, y],
  [x + s, y],
  [x + s, y + s],
  [x, y + s],
];

describe('measurement of annotation shapes', () => {
  it('a ring area is the same whichever way it winds', () => {
    expect(ringArea(square(0, 0, 10))).toBe(100);
    expect(ringArea([...square(0, 0, 10)].reverse())).toBe(100);
    expect(
      ringArea([
        [0, 0],
        [5, 5],
      ]),
    ).toBe(0);
  });

  it('holes subtract: 600 x 600 less a 200 x 200 hole is 320,000 px², 0.08 mm² at 0.5 µm/px', () => {
    const g = { points: square(0, 0, 600), holes: [square(200, 200, 200)] };
    expect(polygonWithHolesArea(g.points, g.holes)).toBe(320_000);
    const px = measureShape('polygon', g, null);
    expect(px.area).toBe(320_000);
    const um = measureShape('polygon', g, MPP);
    expect(um.area).toBe(80_000); // µm²
    expect(formatSquareMillimetres(um.area!, true)).toBe('0.0800 mm²');
    // Perimeter counts the hole's ring too: (2400 + 800) px x 0.5.
    expect(um.perimeter).toBe(1600);
    expect(measureShape('freehand', g, MPP).area).toBe(80_000);
  });

  it('a multipolygon sums its parts, each less its own holes', () => {
    const g = {
      points: square(0, 0, 600),
      parts: [
        { points: square(0, 0, 600), holes: [square(200, 200, 200)] },
        { points: square(1000, 0, 100) },
      ],
    };
    const m = measureShape('multipolygon', g, null);
    expect(m.area).toBe(320_000 + 10_000);
    expect(m.perimeter).toBe(2400 + 800 + 400);
    // Without parts, the outer ring is the one polygon.
    expect(measureShape('multipolygon', { points: square(0, 0, 10) }, null).area).toBe(100);
  });

  it('a rectangle from two corners in either order', () => {
    const m = measureShape(
      'rectangle',
      {
        points: [
          [600, 400],
          [0, 0],
        ],
      },
      MPP,
    );
    expect(m.area).toBe(300 * 200);
    expect(m.perimeter).toBe(2 * (300 + 200));
  });

  it('an ellipse: area π·a·b, perimeter Ramanujan (a circle is exact)', () => {
    const circle = measureShape(
      'ellipse',
      {
        points: [
          [0, 0],
          [200, 200],
        ],
      },
      MPP,
    );
    expect(circle.area).toBeCloseTo(Math.PI * 50 * 50, 9);
    expect(circle.perimeter).toBeCloseTo(2 * Math.PI * 50, 9);
    const e = measureShape(
      'ellipse',
      {
        points: [
          [0, 0],
          [20, 10],
        ],
      },
      null,
    );
    expect(e.area).toBeCloseTo(Math.PI * 10 * 5, 9);
    // a = 10, b = 5: the exact perimeter is 48.44224110...
    expect(e.perimeter).toBeCloseTo(48.4422411, 6);
    expect(ellipsePerimeter(0, 0)).toBe(0);
    // Flat: four times the half-axis.
    expect(ellipsePerimeter(10, 0)).toBeCloseTo(40, 1);
  });

  it('lines and polylines measure their length, scaled per axis for non-square pixels', () => {
    expect(
      measureShape(
        'line',
        {
          points: [
            [0, 0],
            [300, 400],
          ],
        },
        MPP,
      ).length,
    ).toBe(250);
    expect(
      measureShape(
        'line',
        {
          points: [
            [0, 0],
            [300, 400],
          ],
        },
        null,
      ).length,
    ).toBe(500);
    expect(
      measureShape(
        'line',
        {
          points: [
            [0, 0],
            [100, 0],
          ],
        },
        { x: 0.25, y: 1 },
      ).length,
    ).toBe(25);
    expect(
      measureShape(
        'line',
        {
          points: [
            [0, 0],
            [0, 100],
          ],
        },
        { x: 0.25, y: 1 },
      ).length,
    ).toBe(100);
    expect(
      measureShape(
        'polyline',
        {
          points: [
            [0, 0],
            [100, 0],
            [100, 100],
          ],
        },
        MPP,
      ).length,
    ).toBe(100);
    expect(ringLength(square(0, 0, 10))).toBe(40);
  });

  it('points measure nothing; several points count', () => {
    expect(measureText(measureShape('point', { points: [[1, 2]] }, MPP))).toEqual({ main: null, sub: null });
    expect(
      measureText(
        measureShape(
          'multipoint',
          {
            points: [
              [1, 2],
              [3, 4],
            ],
          },
          MPP,
        ),
      ).main,
    ).toBe('2 points');
  });

  it('formats: µm for lengths, mm² for areas, pixels without calibration', () => {
    expect(formatMicrometres(3.14159, true)).toBe('3.14 µm');
    expect(formatMicrometres(12_345.67, true)).toBe('12,345.7 µm');
    expect(formatMicrometres(12_345.67, false)).toBe('12,346 px');
    expect(formatSquareMillimetres(1_234_567, true)).toBe('1.23 mm²');
    expect(formatSquareMillimetres(123, true)).toBe('0.000123 mm²');
    expect(formatSquareMillimetres(0, true)).toBe('0 mm²');
    expect(formatSquareMillimetres(320_000, false)).toBe('320,000 px²');
    expect(
      measureText(
        measureShape(
          'rectangle',
          {
            points: [
              [0, 0],
              [600, 600],
            ],
          },
          MPP,
        ),
      ),
    ).toEqual({
      main: '0.0900 mm²',
      sub: 'perimeter 1,200.0 µm',
    });
    expect(
      measureText(
        measureShape(
          'line',
          {
            points: [
              [0, 0],
              [10, 0],
            ],
          },
          null,
        ),
      ).main,
    ).toBe('10 px');
  });
});
