import type { AnnotationKind, Geometry } from '../../../protocol/review.ts';

/**
 * Plane geometry of annotations, in level-0 image pixels. Rectangles and ellipses are stored as two
 * corners of their bounding box; polygons and freehand outlines as their vertices (closed
 * implicitly); a line as its two ends; a point as one.
 */

export interface Pt {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Shape {
  kind: AnnotationKind;
  geometry: Geometry;
}

export const toPt = ([x, y]: readonly [number, number]): Pt => ({ x, y });
export const toPair = (p: Pt): [number, number] => [p.x, p.y];

export function boxOf(points: readonly (readonly [number, number])[]): Box {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of points) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  if (!Number.isFinite(x0)) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

export function distanceToSegment(p: Pt, a: Pt, b: Pt): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** Even-odd rule; the outline is closed implicitly. */
export function insidePolygon(p: Pt, poly: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > p.y !== yj > p.y && p.x < ((xj - xi) * (p.y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function nearOutline(
  p: Pt,
  pts: readonly (readonly [number, number])[],
  closed: boolean,
  tol: number,
): boolean {
  const n = pts.length;
  if (n === 1) return Math.hypot(p.x - pts[0]![0], p.y - pts[0]![1]) <= tol;
  for (let i = 0; i < (closed ? n : n - 1); i++) {
    if (distanceToSegment(p, toPt(pts[i]!), toPt(pts[(i + 1) % n]!)) <= tol) return true;
  }
  return false;
}

/**
 * Is `p` on the shape? Areas (rectangle, ellipse, polygon, freehand) count their inside; points and
 * lines count within `tol` (image pixels: the caller converts a screen tolerance).
 */
export function hitTest(s: Shape, p: Pt, tol: number): boolean {
  const pts = s.geometry.points;
  if (pts.length === 0) return false;
  switch (s.kind) {
    case 'point':
    case 'multipoint':
      return pts.some(([x, y]) => Math.hypot(p.x - x, p.y - y) <= tol);
    case 'line':
    case 'polyline':
      return nearOutline(p, pts, false, tol);
    case 'rectangle': {
      const b = boxOf(pts);
      return (
        p.x >= b.x - tol && p.x <= b.x + b.width + tol && p.y >= b.y - tol && p.y <= b.y + b.height + tol
      );
    }
    case 'ellipse': {
      const b = boxOf(pts);
      const rx = b.width / 2 + tol;
      const ry = b.height / 2 + tol;
      const dx = p.x - (b.x + b.width / 2);
      const dy = p.y - (b.y + b.height / 2);
      return (dx * dx) / (rx * rx) + (dy * dy) / (ry * ry) <= 1;
    }
    case 'polygon':
    case 'freehand':
      return (pts.length >= 3 && insidePolygon(p, pts)) || nearOutline(p, pts, true, tol);
    case 'multipolygon':
      return (s.geometry.parts ?? [{ points: pts }]).some(
        (part) =>
          (part.points.length >= 3 && insidePolygon(p, part.points)) ||
          nearOutline(p, part.points, true, tol),
      );
  }
}

/** The topmost (last drawn) shape under `p`, or null. */
export function topmostHit<T extends Shape & { id: string }>(
  list: readonly T[],
  p: Pt,
  tol: number,
): T | null {
  for (let i = list.length - 1; i >= 0; i--) if (hitTest(list[i]!, p, tol)) return list[i]!;
  return null;
}

export function translate(g: Geometry, dx: number, dy: number): Geometry {
  const move = (ring: [number, number][]): [number, number][] => ring.map(([x, y]) => [x + dx, y + dy]);
  return {
    points: move(g.points),
    ...(g.holes ? { holes: g.holes.map(move) } : {}),
    ...(g.parts
      ? {
          parts: g.parts.map((q) => ({
            points: move(q.points),
            ...(q.holes ? { holes: q.holes.map(move) } : {}),
          })),
        }
      : {}),
  };
}

/** Whole-pixel coordinates: what is sent over the wire (sub-pixel precision means nothing on a slide). */
export function rounded(g: Geometry): Geometry {
  const round = (ring: [number, number][]): [number, number][] =>
    ring.map(([x, y]) => [Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
  return {
    points: round(g.points),
    ...(g.holes ? { holes: g.holes.map(round) } : {}),
    ...(g.parts
      ? {
          parts: g.parts.map((q) => ({
            points: round(q.points),
            ...(q.holes ? { holes: q.holes.map(round) } : {}),
          })),
        }
      : {}),
  };
}

/** Adds a freehand sample only when it is at least `minStep` away from the last one. */
export function addSample(points: [number, number][], p: Pt, minStep: number): [number, number][] {
  const last = points.at(-1);
  if (last && Math.hypot(p.x - last[0], p.y - last[1]) < minStep) return points;
  return [...points, [p.x, p.y]];
}

/**
 * The geometry a finished drag makes for a two-point kind, or null when the drag was too short
 * (a stray click) to mean anything.
 */
export function dragGeometry(kind: AnnotationKind, a: Pt, b: Pt, minSize: number): Geometry | null {
  if (kind === 'line' && Math.hypot(b.x - a.x, b.y - a.y) < minSize) return null;
  if (
    (kind === 'rectangle' || kind === 'ellipse') &&
    (Math.abs(b.x - a.x) < minSize || Math.abs(b.y - a.y) < minSize)
  )
    return null;
  return { points: [toPair(a), toPair(b)] };
}

/** A polygon or freehand outline is worth keeping with three distinct vertices. */
export function closedGeometry(points: [number, number][], minSize: number): Geometry | null {
  const distinct: [number, number][] = [];
  for (const p of points) {
    const last = distinct.at(-1);
    if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) >= minSize) distinct.push(p);
  }
  const first = distinct[0];
  const end = distinct.at(-1);
  if (distinct.length > 1 && first && end && Math.hypot(first[0] - end[0], first[1] - end[1]) < minSize)
    distinct.pop();
  return distinct.length >= 3 ? { points: distinct } : null;
}

/** The four corners of the view rectangle a participant reported, for drawing on any transform. */
export function boxCorners(b: Box): Pt[] {
  return [
    { x: b.x, y: b.y },
    { x: b.x + b.width, y: b.y },
    { x: b.x + b.width, y: b.y + b.height },
    { x: b.x, y: b.y + b.height },
  ];
}
