import { describe, expect, it } from 'vitest';
import type { AnnotationDto, Geometry } from '../../../protocol/review.ts';
import { canvasShape } from './annotation-canvas.ts';

const ann = (kind: AnnotationDto['kind'], o: Partial<AnnotationDto> = {}) =>
  ({ id: 'a1', kind, color: null, classification: { name: 'Tumor', color: '#f50000' }, ...o }) as Pick<
    AnnotationDto,
    'id' | 'kind' | 'color' | 'classification'
  >;

describe('annotations as the canvas layer draws them', () => {
  it('an area keeps its holes and every part, in the class colour', () => {
    const g: Geometry = {
      points: [
        [0, 0],
        [10, 0],
        [10, 10],
      ],
      holes: [
        [
          [2, 2],
          [3, 2],
          [3, 3],
        ],
      ],
    };
    expect(canvasShape(ann('polygon'), g)).toEqual({
      type: 'area',
      rings: [g.points, g.holes![0]],
      colour: '#f50000',
      dashed: false,
    });
    const multi: Geometry = {
      points: g.points,
      parts: [
        { points: g.points, holes: g.holes },
        {
          points: [
            [20, 20],
            [30, 20],
            [30, 30],
          ],
        },
      ],
    };
    const s = canvasShape(ann('multipolygon'), multi);
    expect(s?.type === 'area' && s.rings).toHaveLength(3);
  });
  it('rectangles and ellipses from their box; lines open; points as markers', () => {
    const box: Geometry = {
      points: [
        [40, 10],
        [0, 30],
      ],
    };
    expect(canvasShape(ann('rectangle'), box)).toMatchObject({
      type: 'area',
      rings: [
        [
          [0, 10],
          [40, 10],
          [40, 30],
          [0, 30],
        ],
      ],
    });
    expect(canvasShape(ann('ellipse'), box)).toMatchObject({
      type: 'ellipse',
      cx: 20,
      cy: 20,
      rx: 20,
      ry: 10,
    });
    expect(canvasShape(ann('line'), box)).toMatchObject({ type: 'line', points: box.points });
    expect(canvasShape(ann('multipoint'), box)).toMatchObject({
      type: 'points',
      points: box.points,
      radius: 4,
    });
    expect(canvasShape(ann('point'), box)).toMatchObject({ type: 'points', points: [[40, 10]], radius: 5 });
  });
  it('its own colour over the class’s; unsaved ones dashed; unclassified grey; nothing without points', () => {
    const g: Geometry = {
      points: [
        [1, 1],
        [2, 2],
      ],
    };
    expect(canvasShape(ann('line', { color: '#123456' }), g)?.colour).toBe('#123456');
    expect(canvasShape(ann('line', { id: 'local-x' }), g)).toMatchObject({ dashed: true });
    expect(canvasShape(ann('line', { classification: null }), g)?.colour).toMatch(/^#[0-9a-f]{6}$/);
    expect(canvasShape(ann('line'), { points: [] })).toBeNull();
  });
});
