import type { AnnotationDto, Geometry } from '../../../protocol/review.ts';
import { annotationColour } from '../review/constants.ts';
import type { Affine } from './geometry.ts';
import { geometryRect } from './cull.ts';

type Pt = readonly [number, number];

/** What one annotation is on a canvas, in level-0 image pixels. */
export type CanvasShape =
  | { type: 'area'; rings: Pt[][]; colour: string; dashed: boolean }
  | { type: 'line'; points: Pt[]; colour: string; dashed: boolean }
  | { type: 'ellipse'; cx: number; cy: number; rx: number; ry: number; colour: string; dashed: boolean }
  | { type: 'points'; points: Pt[]; radius: number; colour: string };

/** Point markers' radius on screen (as the SVG layer draws them). */
const POINT_R = 5;
const MULTIPOINT_R = 4;

const rings = (g: { points: [number, number][]; holes?: [number, number][][] }): Pt[][] => [
  g.points,
  ...(g.holes ?? []),
];

/**
 * An annotation as the canvas layer draws it: the same outline, fill and markers as the SVG layer
 * (review.css), holes and parts drawn even-odd; unsaved ones (`local-` ids) dashed.
 */
export function canvasShape(
  a: Pick<AnnotationDto, 'id' | 'kind' | 'color' | 'classification'>,
  g: Geometry,
): CanvasShape | null {
  const colour = annotationColour(a);
  const dashed = a.id.startsWith('local-');
  const first = g.points[0];
  if (!first) return null;
  switch (a.kind) {
    case 'point':
      return { type: 'points', points: [first], radius: POINT_R, colour };
    case 'multipoint':
      return { type: 'points', points: g.points, radius: MULTIPOINT_R, colour };
    case 'line':
      return { type: 'line', points: [first, g.points[1] ?? first], colour, dashed };
    case 'polyline':
      return { type: 'line', points: g.points, colour, dashed };
    case 'rectangle': {
      const r = geometryRect(g);
      const ring: Pt[] = [
        [r.minX, r.minY],
        [r.maxX, r.minY],
        [r.maxX, r.maxY],
        [r.minX, r.maxY],
      ];
      return { type: 'area', rings: [ring], colour, dashed };
    }
    case 'ellipse': {
      const r = geometryRect(g);
      return {
        type: 'ellipse',
        cx: (r.minX + r.maxX) / 2,
        cy: (r.minY + r.maxY) / 2,
        rx: (r.maxX - r.minX) / 2,
        ry: (r.maxY - r.minY) / 2,
        colour,
        dashed,
      };
    }
    case 'multipolygon':
      return { type: 'area', rings: (g.parts ?? [{ points: g.points }]).flatMap(rings), colour, dashed };
    case 'polygon':
    case 'freehand':
      return { type: 'area', rings: rings(g), colour, dashed };
  }
}

/**
 * Draws shapes on a 2D context whose pixels are `dpr` per CSS pixel, `t` taking image pixels to the
 * canvas's CSS pixels: outlines 2 screen pixels wide, areas filled at 10 %, markers at 90 % with a
 * white rim, as the SVG layer does.
 */
export function drawShapes(
  ctx: CanvasRenderingContext2D,
  shapes: readonly CanvasShape[],
  t: Affine,
  dpr: number,
): void {
  const px = 1 / (Math.hypot(t[0], t[1]) || 1);
  ctx.setTransform(dpr * t[0], dpr * t[1], dpr * t[2], dpr * t[3], dpr * t[4], dpr * t[5]);
  ctx.lineJoin = 'round';
  for (const s of shapes) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    if (s.type === 'points') {
      ctx.setLineDash([]);
      ctx.lineWidth = 1.5 * px;
      const path = new Path2D();
      for (const [x, y] of s.points) {
        path.moveTo(x + s.radius * px, y);
        path.arc(x, y, s.radius * px, 0, 2 * Math.PI);
      }
      ctx.globalAlpha = 0.9;
      ctx.fill(path);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = '#fff';
      ctx.stroke(path);
      continue;
    }
    ctx.lineWidth = 2 * px;
    ctx.setLineDash(s.dashed ? [6 * px, 4 * px] : []);
    const path = new Path2D();
    if (s.type === 'ellipse') path.ellipse(s.cx, s.cy, s.rx, s.ry, 0, 0, 2 * Math.PI);
    else if (s.type === 'area')
      for (const ring of s.rings) {
        ring.forEach(([x, y], i) => (i === 0 ? path.moveTo(x, y) : path.lineTo(x, y)));
        path.closePath();
      }
    else s.points.forEach(([x, y], i) => (i === 0 ? path.moveTo(x, y) : path.lineTo(x, y)));
    if (s.type !== 'line') {
      ctx.globalAlpha = 0.1;
      ctx.fill(path, 'evenodd');
      ctx.globalAlpha = 1;
    }
    ctx.stroke(path);
  }
  ctx.setLineDash([]);
}

/** Labels at their shape's top-left corner, upright and at screen size, white on a dark rim. */
export function drawLabels(
  ctx: CanvasRenderingContext2D,
  labels: readonly { text: string; x: number; y: number }[],
  t: Affine,
  dpr: number,
): void {
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.lineWidth = 3;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.75)';
  ctx.fillStyle = '#fff';
  for (const l of labels) {
    const sx = t[0] * l.x + t[2] * l.y + t[4];
    const sy = t[1] * l.x + t[3] * l.y + t[5] - 6;
    ctx.strokeText(l.text, sx, sy);
    ctx.fillText(l.text, sx, sy);
  }
}
