import {
  distance,
  formatArea,
  formatLength,
  lineLength,
  polygonArea,
  rectCorners,
  type Mpp,
  type Point,
} from './geometry.ts';

export type MeasureKind = 'line' | 'rect' | 'polygon';

/** A measurement in level-0 image pixels, so it stays on the tissue through pan, zoom and rotation. */
export interface Measurement {
  id: number;
  kind: MeasureKind;
  /** line: 2 ends; rect: 2 opposite corners; polygon: its vertices. */
  points: Point[];
}

export interface MeasureValue {
  /** µm or µm² when calibrated, px or px² otherwise. */
  value: number;
  text: string;
  /** Perimeter of areas, for the side panel. */
  perimeter?: string;
}

export function outline(m: Pick<Measurement, 'kind' | 'points'>): Point[] {
  if (m.kind === 'rect' && m.points.length >= 2) return rectCorners(m.points[0]!, m.points[1]!);
  return m.points;
}

function perimeter(points: Point[], mpp: Mpp | null): number {
  let s = 0;
  for (let i = 0; i < points.length; i++) s += lineLength(points[i]!, points[(i + 1) % points.length]!, mpp);
  return s;
}

export function measureValue(m: Pick<Measurement, 'kind' | 'points'>, mpp: Mpp | null): MeasureValue {
  const cal = mpp !== null;
  if (m.kind === 'line') {
    const v = m.points.length >= 2 ? lineLength(m.points[0]!, m.points[1]!, mpp) : 0;
    return { value: v, text: formatLength(v, cal) };
  }
  const pts = outline(m);
  const a = polygonArea(pts, mpp);
  return { value: a, text: formatArea(a, cal), perimeter: formatLength(perimeter(pts, mpp), cal) };
}

/**
 * Vertices of a polygon being closed: the rubber-band point is dropped, and so are vertices closer
 * than `tolerance` to the one before (a double-click adds the same point twice).
 */
export function closePolygon(points: readonly Point[], tolerance: number): Point[] | null {
  const body = points.slice(0, -1);
  const out: Point[] = [];
  for (const p of body) {
    const last = out[out.length - 1];
    if (!last || distance(last, p) > tolerance) out.push(p);
  }
  while (out.length > 3 && distance(out[0]!, out[out.length - 1]!) <= tolerance) out.pop();
  return out.length >= 3 ? out : null;
}

export const KIND_LABEL: Record<MeasureKind, string> = {
  line: 'Line',
  rect: 'Rectangle',
  polygon: 'Polygon',
};
