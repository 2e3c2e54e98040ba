import { describe, expect, it } from 'vitest';
import { fitViewToBox, geometryBounds } from './fit-box.ts';

describe('going to an annotation: fit the view to its bounds', () => {
  it('bounds take in holes and every part', () => {
    expect(
      geometryBounds({
        points: [
          [10, 20],
          [30, 5],
        ],
      }),
    ).toEqual({ x: 10, y: 5, width: 20, height: 15 });
    expect(
      geometryBounds({
        points: [
          [0, 0],
          [10, 0],
          [10, 10],
        ],
        parts: [
          {
            points: [
              [0, 0],
              [10, 10],
              [0, 10],
            ],
          },
          {
            points: [
              [100, 50],
              [120, 60],
              [100, 60],
            ],
          },
        ],
      }),
    ).toEqual({ x: 0, y: 0, width: 120, height: 60 });
    expect(geometryBounds({ points: [] as unknown as [[number, number]] })).toEqual({
      x: 0,
      y: 0,
      width: 0,
      height: 0,
    });
  });

  it('centres the box and fits its tighter side, leaving the margin', () => {
    const v = fitViewToBox({ x: 1000, y: 2000, width: 400, height: 100 }, { width: 1000, height: 800 }, 0, {
      margin: 0.1,
    });
    expect(v).toEqual({ x: 1200, y: 2050, imageZoom: (1000 / 400) * 0.8, rotation: 0 });
  });

  it('a quarter turn fits the box by its height across the screen', () => {
    const v = fitViewToBox({ x: 0, y: 0, width: 100, height: 400 }, { width: 1000, height: 800 }, 90, {
      margin: 0,
    });
    expect(v.imageZoom).toBeCloseTo(1000 / 400, 9);
    expect(v.rotation).toBe(90);
  });

  it('a point or a hair-thin line is shown at a sensible size, never past the zoom limit', () => {
    const p = fitViewToBox({ x: 50, y: 50, width: 0, height: 0 }, { width: 800, height: 800 }, 0, {
      margin: 0,
      minExtent: 400,
      maxImageZoom: 4,
    });
    expect(p).toEqual({ x: 50, y: 50, imageZoom: 2, rotation: 0 });
    const q = fitViewToBox({ x: 0, y: 0, width: 10, height: 10 }, { width: 800, height: 800 }, 0, {
      maxImageZoom: 4,
    });
    expect(q.imageZoom).toBe(4);
  });
});
