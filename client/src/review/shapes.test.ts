import { describe, expect, it } from 'vitest';
import {
  addSample,
  boxOf,
  closedGeometry,
  distanceToSegment,
  dragGeometry,
  hitTest,
  insidePolygon,
  topmostHit,
  translate,
  type Shape,
} from './shapes.ts';

const rect: Shape = {
  kind: 'rectangle',
  geometry: {
    points: [
      [100, 200],
      [10, 20],
    ],
  },
};
const ellipse: Shape = {
  kind: 'ellipse',
  geometry: {
    points: [
      [0, 0],
      [200, 100],
    ],
  },
};
const tri: Shape = {
  kind: 'polygon',
  geometry: {
    points: [
      [0, 0],
      [100, 0],
      [0, 100],
    ],
  },
};

describe('hit testing', () => {
  it('finds points and lines within the tolerance only', () => {
    const point: Shape = { kind: 'point', geometry: { points: [[50, 50]] } };
    expect(hitTest(point, { x: 53, y: 54 }, 5)).toBe(true);
    expect(hitTest(point, { x: 56, y: 50 }, 5)).toBe(false);
    const line: Shape = {
      kind: 'line',
      geometry: {
        points: [
          [0, 0],
          [100, 0],
        ],
      },
    };
    expect(hitTest(line, { x: 50, y: 3 }, 4)).toBe(true);
    expect(hitTest(line, { x: 50, y: 6 }, 4)).toBe(false);
    expect(hitTest(line, { x: 104, y: 0 }, 4)).toBe(true);
    expect(hitTest(line, { x: 106, y: 0 }, 4)).toBe(false);
  });
  it('counts the inside of areas, whichever corners were given', () => {
    expect(hitTest(rect, { x: 50, y: 100 }, 0)).toBe(true);
    expect(hitTest(rect, { x: 5, y: 100 }, 0)).toBe(false);
    expect(hitTest(rect, { x: 5, y: 100 }, 6)).toBe(true);
    expect(hitTest(ellipse, { x: 100, y: 50 }, 0)).toBe(true);
    expect(hitTest(ellipse, { x: 5, y: 5 }, 0)).toBe(false); // in the box, outside the ellipse
    expect(hitTest(ellipse, { x: 199, y: 50 }, 0)).toBe(true);
    expect(hitTest(tri, { x: 20, y: 20 }, 0)).toBe(true);
    expect(hitTest(tri, { x: 60, y: 60 }, 0)).toBe(false);
    expect(hitTest(tri, { x: 52, y: 52 }, 3)).toBe(true); // near the hypotenuse
  });
  it('picks the topmost shape', () => {
    const list = [
      { id: 'a', ...rect },
      { id: 'b', ...tri },
    ];
    expect(topmostHit(list, { x: 20, y: 30 }, 0)?.id).toBe('b');
    expect(topmostHit(list, { x: 90, y: 190 }, 0)?.id).toBe('a');
    expect(topmostHit(list, { x: 500, y: 500 }, 2)).toBeNull();
  });
  it('segment distance and polygon inside test', () => {
    expect(distanceToSegment({ x: 5, y: 5 }, { x: 0, y: 0 }, { x: 10, y: 0 })).toBe(5);
    expect(distanceToSegment({ x: -3, y: 4 }, { x: 0, y: 0 }, { x: 10, y: 0 })).toBe(5);
    expect(distanceToSegment({ x: 3, y: 4 }, { x: 0, y: 0 }, { x: 0, y: 0 })).toBe(5);
    expect(
      insidePolygon({ x: 1, y: 1 }, [
        [0, 0],
        [2, 0],
        [2, 2],
        [0, 2],
      ]),
    ).toBe(true);
  });
});

describe('moving and making shapes', () => {
  it('translates every vertex', () => {
    expect(translate(tri.geometry, 10, -5).points).toEqual([
      [10, -5],
      [110, -5],
      [10, 95],
    ]);
    expect(boxOf(translate(rect.geometry, 1, 1).points)).toEqual({ x: 11, y: 21, width: 90, height: 180 });
  });
  it('ignores drags too short to mean a shape', () => {
    expect(dragGeometry('rectangle', { x: 0, y: 0 }, { x: 2, y: 50 }, 3)).toBeNull();
    expect(dragGeometry('line', { x: 0, y: 0 }, { x: 2, y: 2 }, 3)).toBeNull();
    expect(dragGeometry('ellipse', { x: 0, y: 0 }, { x: 20, y: 30 }, 3)?.points).toEqual([
      [0, 0],
      [20, 30],
    ]);
  });
  it('samples freehand strokes and closes outlines', () => {
    let pts: [number, number][] = [];
    for (const x of [0, 1, 2, 5, 6, 10]) pts = addSample(pts, { x, y: 0 }, 3);
    expect(pts).toEqual([
      [0, 0],
      [5, 0],
      [10, 0],
    ]);
    expect(
      closedGeometry(
        [
          [0, 0],
          [0, 0.5],
          [10, 0],
          [10, 10],
          [0.2, 0.2],
        ],
        2,
      )?.points,
    ).toEqual([
      [0, 0],
      [10, 0],
      [10, 10],
    ]);
    expect(
      closedGeometry(
        [
          [0, 0],
          [10, 0],
        ],
        2,
      ),
    ).toBeNull();
  });
});
