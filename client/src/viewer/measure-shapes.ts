import type { AnnotationKind, Geometry } from '../../../protocol/review.ts';
import { fixed as number, type Mpp } from './geometry.ts';

/**
 * What an annotation measures, in physical units when the slide is calibrated: lengths and
 * perimeters in µm, areas in µm² (shown as mm²); in pixels otherwise. Pixels may be non-square, so
 * every length is scaled per axis before it is summed.
 */
export interface ShapeMeasures {
  /** Line and polyline: their length. */
  length?: number;
  /** Closed shapes: the area inside, holes taken out. */
  area?: number;
  /** Closed shapes: every ring's length, holes included (as QuPath and JTS count it). */
  perimeter?: number;
  /** Several points in one. */
  count?: number;
  calibrated: boolean;
}

type Pair = readonly [number, number];
type Ring = readonly Pair[];

function segment(a: Pair, b: Pair, sx: number, sy: number): number {
  return Math.hypot((b[0] - a[0]) * sx, (b[1] - a[1]) * sy);
}

/** Length of an open path through the points. */
export function pathLength(points: Ring, sx = 1, sy = 1): number {
  let s = 0;
  for (let i = 1; i < points.length; i++) s += segment(points[i - 1]!, points[i]!, sx, sy);
  return s;
}

/** Length of a ring, closed implicitly (the last point joins the first). */
export function ringLength(ring: Ring, sx = 1, sy = 1): number {
  if (ring.length < 2) return 0;
  return pathLength(ring, sx, sy) + segment(ring[ring.length - 1]!, ring[0]!, sx, sy);
}

/** Shoelace: the absolute area of a simple ring in px², whatever its winding. */
export function ringArea(ring: Ring): number {
  if (ring.length < 3) return 0;
  let twice = 0;
  for (let i = 0; i < ring.length; i++) {
    const p = ring[i]!;
    const q = ring[(i + 1) % ring.length]!;
    twice += p[0] * q[1] - q[0] * p[1];
  }
  return Math.abs(twice) / 2;
}

/** An outer ring less its holes, in px² (never below zero for a malformed polygon). */
export function polygonWithHolesArea(outer: Ring, holes: readonly Ring[] = []): number {
  return Math.max(0, ringArea(outer) - holes.reduce((s, h) => s + ringArea(h), 0));
}

/** Ramanujan's second approximation of an ellipse's perimeter (error below 1e-9 for any shape seen here). */
export function ellipsePerimeter(a: number, b: number): number {
  if (a + b === 0) return 0;
  const h = ((a - b) * (a - b)) / ((a + b) * (a + b));
  return Math.PI * (a + b) * (1 + (3 * h) / (10 + Math.sqrt(4 - 3 * h)));
}

function box(points: Ring): { w: number; h: number } {
  const a = points[0];
  const b = points[1] ?? a;
  if (!a || !b) return { w: 0, h: 0 };
  return { w: Math.abs(b[0] - a[0]), h: Math.abs(b[1] - a[1]) };
}

/** The measures of a shape; `mpp` null measures in pixels. */
export function measureShape(kind: AnnotationKind, g: Geometry, mpp: Mpp | null): ShapeMeasures {
  const sx = mpp?.x ?? 1;
  const sy = mpp?.y ?? 1;
  const calibrated = mpp !== null;
  const pts = g.points;
  switch (kind) {
    case 'point':
      return { calibrated };
    case 'multipoint':
      return { count: pts.length, calibrated };
    case 'line':
      return { length: pts.length >= 2 ? segment(pts[0]!, pts[1]!, sx, sy) : 0, calibrated };
    case 'polyline':
      return { length: pathLength(pts, sx, sy), calibrated };
    case 'rectangle': {
      const { w, h } = box(pts);
      return { area: w * h * sx * sy, perimeter: 2 * (w * sx + h * sy), calibrated };
    }
    case 'ellipse': {
      const { w, h } = box(pts);
      const a = (w / 2) * sx;
      const b = (h / 2) * sy;
      return { area: Math.PI * a * b, perimeter: ellipsePerimeter(a, b), calibrated };
    }
    case 'polygon':
    case 'freehand': {
      const holes = g.holes ?? [];
      return {
        area: polygonWithHolesArea(pts, holes) * sx * sy,
        perimeter: ringLength(pts, sx, sy) + holes.reduce((s, h) => s + ringLength(h, sx, sy), 0),
        calibrated,
      };
    }
    case 'multipolygon': {
      const parts = g.parts ?? [{ points: pts, holes: g.holes }];
      let area = 0;
      let perimeter = 0;
      for (const p of parts) {
        const holes = p.holes ?? [];
        area += polygonWithHolesArea(p.points, holes);
        perimeter += ringLength(p.points, sx, sy) + holes.reduce((s, h) => s + ringLength(h, sx, sy), 0);
      }
      return { area: area * sx * sy, perimeter, calibrated };
    }
  }
}

/** Always µm (one unit down the list compares at a glance); px without calibration. */
export function formatMicrometres(um: number, calibrated: boolean): string {
  if (!calibrated) return `${number(um, 0)} px`;
  return `${number(um, um < 10 ? 2 : 1)} µm`;
}

/** Always mm², to three significant digits at least; px² without calibration. */
export function formatSquareMillimetres(um2: number, calibrated: boolean): string {
  if (!calibrated) return `${number(um2, 0)} px²`;
  const mm2 = um2 / 1e6;
  if (mm2 === 0) return '0 mm²';
  const digits = Math.min(8, Math.max(2, 2 - Math.floor(Math.log10(mm2))));
  return `${number(mm2, digits)} mm²`;
}

/** The main figure of a shape (length, else area, else count) and the one beside it (perimeter). */
export function measureText(m: ShapeMeasures): { main: string | null; sub: string | null } {
  if (m.length !== undefined) return { main: formatMicrometres(m.length, m.calibrated), sub: null };
  if (m.area !== undefined)
    return {
      main: formatSquareMillimetres(m.area, m.calibrated),
      sub: m.perimeter !== undefined ? `perimeter ${formatMicrometres(m.perimeter, m.calibrated)}` : null,
    };
  if (m.count !== undefined) return { main: `${m.count} point${m.count === 1 ? '' : 's'}`, sub: null };
  return { main: null, sub: null };
}
