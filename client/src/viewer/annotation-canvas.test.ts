import { describe, expect, it } from 'vitest';
import type { AnnotationDto, Geometry } from '../../../protocol/review.ts';
import {
  canvasShape,
  drawPacked,
  labelsAt,
  packShapes,
  type CanvasShape,
  type Context2D,
} from './annotation-canvas.ts';

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
  const shapes: (CanvasShape | null)[] = [
    {
      type: 'area',
      rings: [
        [
          [0, 0],
          [100, 0],
          [100, 100],
        ],
        [
          [20, 20],
          [30, 20],
          [30, 30],
        ],
      ],
      colour: '#f50000',
      dashed: false,
    },
    null,
    {
      type: 'line',
      points: [
        [0, 0],
        [0.2, 0.1],
        [0.4, 0.2],
        [50, 50],
      ],
      colour: '#00a0ff',
      dashed: true,
    },
    { type: 'ellipse', cx: 5, cy: 6, rx: 7.5, ry: 8, colour: '#f50000', dashed: false },
    {
      type: 'points',
      points: [
        [40, 10],
        [41, 12],
      ],
      radius: 4,
      colour: 'rgb(1, 2, 3)',
    },
  ];

  /** A 2D context that writes down what is drawn (calls, and the styles set). */
  function recorder() {
    const log: string[] = [];
    const ctx = new Proxy({} as Record<string, unknown>, {
      get:
        (_t, k: string) =>
        (...args: unknown[]) =>
          log.push(`${k}(${args.map((x) => JSON.stringify(x)).join(',')})`),
      set: (_t, k: string, v) => (log.push(`${k}=${String(v)}`), true),
    });
    return { ctx: ctx as unknown as Context2D, log };
  }

  it('draws packed shapes straight from the buffer: rings closed, areas filled even-odd at 10 %, lines dashed when unsaved', () => {
    const { ctx, log } = recorder();
    drawPacked(ctx, packShapes(shapes), [0, 1, 2, 3, 4], [1, 0, 0, 1, 0, 0], 1);
    const text = log.join(' ');
    // The outer ring and its hole: two closed subpaths of one path, filled even-odd.
    expect(text).toContain(
      'moveTo(0,0) lineTo(100,0) lineTo(100,100) closePath() moveTo(20,20) lineTo(30,20) lineTo(30,30) closePath()',
    );
    expect(text).toContain('fillStyle=#f500001a fill("evenodd")');
    // Grouped by colour: the ellipse (same red) is drawn before any blue.
    expect(text.indexOf('ellipse(5,6,7.5,8')).toBeLessThan(text.indexOf('strokeStyle=#00a0ff'));
    expect(text).toContain('setLineDash([6,4])');
    // A colour that takes no alpha byte is drawn with globalAlpha; markers have a white rim.
    expect(text).toContain('fillStyle=rgb(1, 2, 3) globalAlpha=0.9 fill()');
    expect(text).toContain('strokeStyle=#fff stroke()');
    // Only the indices asked for are drawn.
    const one = recorder();
    drawPacked(one.ctx, packShapes(shapes), [3], [1, 0, 0, 1, 0, 0], 1);
    expect(one.log.filter((l) => l.startsWith('stroke(')).length).toBe(1);
    expect(one.log.join(' ')).not.toContain('moveTo');
  });

  it('merges vertices that fall within a screen pixel of the last one drawn, and keeps every end', () => {
    const lineOnly = (scale: number) => {
      const { ctx, log } = recorder();
      drawPacked(ctx, packShapes(shapes), [2], [scale, 0, 0, scale, 0, 0], 1);
      return log.filter((l) => l.startsWith('moveTo') || l.startsWith('lineTo'));
    };
    // At 1 screen px per image px the two small steps (0.3 px apart) merge; the end stays.
    expect(lineOnly(1)).toEqual(['moveTo(0,0)', 'lineTo(50,50)']);
    // Zoomed in 10x they are 3 screen px apart: all drawn.
    expect(lineOnly(10)).toHaveLength(4);
  });

  it('labels only of the shapes drawn', () => {
    const labels = [{ text: 'a', x: 0, y: 0 }, null, { text: 'c', x: 1, y: 1 }];
    expect(labelsAt(labels, Int32Array.from([1, 2]))).toEqual([{ text: 'c', x: 1, y: 1 }]);
  });
});
