import { describe, expect, it } from 'vitest';
import { contains, cullShapes, geometryRect, overlaps, viewRect, zoomOf, type Rect } from './cull.ts';
import type { Affine } from './geometry.ts';

const rect = (minX: number, minY: number, maxX: number, maxY: number): Rect => ({ minX, minY, maxX, maxY });
const shape = (id: string, r: Rect) => ({ id, rect: r });

describe('cullShapes: shapes whose box meets the view', () => {
  const view = rect(100, 100, 200, 200);
  const shapes = [
    shape('inside', rect(120, 120, 130, 130)),
    shape('left', rect(0, 120, 50, 130)),
    shape('right', rect(250, 120, 300, 130)),
    shape('above', rect(120, 0, 130, 50)),
    shape('below', rect(120, 250, 130, 300)),
    shape('straddles left edge', rect(90, 150, 110, 160)),
    shape('covers the view', rect(0, 0, 1000, 1000)),
    shape('touches the corner', rect(200, 200, 210, 210)),
    shape('diagonal outside', rect(201, 201, 210, 210)),
  ];

  it('keeps shapes inside, across an edge, covering the view or touching it, in their order', () => {
    expect(cullShapes(shapes, view).map((s) => s.id)).toEqual([
      'inside',
      'straddles left edge',
      'covers the view',
      'touches the corner',
    ]);
  });

  it('a pad grows every box (strokes and markers drawn beyond the geometry)', () => {
    expect(cullShapes(shapes, view, 1).map((s) => s.id)).toContain('diagonal outside');
    expect(cullShapes(shapes, view, 1).map((s) => s.id)).not.toContain('right');
  });

  it('a zero-size box (a point) counts when it lies in the view', () => {
    expect(cullShapes([shape('p', rect(150, 150, 150, 150))], view)).toHaveLength(1);
    expect(cullShapes([shape('p', rect(99, 150, 99, 150))], view)).toHaveLength(0);
  });

  it('an empty list stays empty', () => {
    expect(cullShapes([], view)).toEqual([]);
  });
});

describe('viewRect: the image rectangle a screen shows', () => {
  it('undoes scale and offset', () => {
    // 0.5 screen px per image px, image origin at screen (10, 20).
    const t: Affine = [0.5, 0, 0, 0.5, 10, 20];
    expect(viewRect(t, 100, 50)).toEqual(rect(-20, -40, 180, 60));
  });

  it('grows by the margin times its size on each side', () => {
    expect(viewRect([1, 0, 0, 1, 0, 0], 100, 50, 0.5)).toEqual(rect(-50, -25, 150, 75));
  });

  it('a quarter turn swaps width and height', () => {
    // screen = (-y, x) + (50, 0): image x runs down the screen, image y runs left.
    const r = viewRect([0, 1, -1, 0, 50, 0], 50, 100);
    expect(r.minX).toBeCloseTo(0);
    expect(r.maxX).toBeCloseTo(100);
    expect(r.minY).toBeCloseTo(0);
    expect(r.maxY).toBeCloseTo(50);
  });

  it('a 45° turn gives the box around the turned screen', () => {
    const c = Math.SQRT1_2;
    const r = viewRect([c, c, -c, c, 0, 0], 100, 100);
    expect(r.maxX - r.minX).toBeCloseTo(100 * Math.SQRT2);
    expect(r.maxY - r.minY).toBeCloseTo(100 * Math.SQRT2);
  });
});

describe('geometryRect', () => {
  it('covers every part of a multipolygon', () => {
    const r = geometryRect({
      points: [
        [0, 0],
        [10, 0],
        [10, 10],
      ],
      parts: [
        {
          points: [
            [0, 0],
            [10, 0],
            [10, 10],
          ],
        },
        {
          points: [
            [50, 60],
            [70, 60],
            [70, 80],
          ],
        },
      ],
    });
    expect(r).toEqual(rect(0, 0, 70, 80));
  });

  it('a point is a zero-size box', () => {
    expect(geometryRect({ points: [[5, 7]] })).toEqual(rect(5, 7, 5, 7));
  });
});

describe('overlaps, contains, zoomOf', () => {
  it('overlaps counts touching edges, contains needs the whole box', () => {
    expect(overlaps(rect(0, 0, 10, 10), rect(10, 10, 20, 20))).toBe(true);
    expect(overlaps(rect(0, 0, 10, 10), rect(11, 0, 20, 10))).toBe(false);
    expect(contains(rect(0, 0, 10, 10), rect(2, 2, 8, 8))).toBe(true);
    expect(contains(rect(0, 0, 10, 10), rect(2, 2, 11, 8))).toBe(false);
  });

  it('zoomOf is the scale whatever the rotation', () => {
    const c = Math.SQRT1_2 * 2;
    expect(zoomOf([c, c, -c, c, 5, 5])).toBeCloseTo(2);
    expect(zoomOf([0.25, 0, 0, 0.25, 0, 0])).toBeCloseTo(0.25);
  });
});
