/** Plane geometry for measurements: image pixels in, micrometres out. */

export interface Point {
  x: number;
  y: number;
}

/** Physical size of one image pixel; null when the slide is not calibrated. */
export interface Mpp {
  x: number;
  y: number;
}

/** `[a, b, c, d, e, f]`: screen = (a·x + c·y + e, b·x + d·y + f), as in SVG's matrix(). */
export type Affine = readonly [number, number, number, number, number, number];

export const IDENTITY: Affine = [1, 0, 0, 1, 0, 0];

export function apply(m: Affine, p: Point): Point {
  return { x: m[0] * p.x + m[2] * p.y + m[4], y: m[1] * p.x + m[3] * p.y + m[5] };
}

export function invert(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * d - b * c;
  if (det === 0) throw new Error('singular transform');
  return [d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det];
}

/** The affine map that sends (0,0), (1,0), (0,1) to the three given points. */
export function affineFrom(origin: Point, unitX: Point, unitY: Point): Affine {
  return [unitX.x - origin.x, unitX.y - origin.y, unitY.x - origin.x, unitY.y - origin.y, origin.x, origin.y];
}

export function sameAffine(a: Affine, b: Affine, eps = 1e-9): boolean {
  return a.every((v, i) => Math.abs(v - b[i]!) <= eps * Math.max(1, Math.abs(v)));
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(b.x - a.x, b.y - a.y);
}

/** Length of a segment in µm (pixels may be non-square), or in pixels without calibration. */
export function lineLength(a: Point, b: Point, mpp: Mpp | null): number {
  const sx = mpp?.x ?? 1;
  const sy = mpp?.y ?? 1;
  return Math.hypot((b.x - a.x) * sx, (b.y - a.y) * sy);
}

/** Shoelace formula: absolute area of a simple polygon in px², whatever the winding. */
export function polygonAreaPx(points: readonly Point[]): number {
  if (points.length < 3) return 0;
  let twice = 0;
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const q = points[(i + 1) % points.length]!;
    twice += p.x * q.y - q.x * p.y;
  }
  return Math.abs(twice) / 2;
}

/** Area in µm² (or px² without calibration). */
export function polygonArea(points: readonly Point[], mpp: Mpp | null): number {
  return polygonAreaPx(points) * (mpp ? mpp.x * mpp.y : 1);
}

export function rectCorners(a: Point, b: Point): Point[] {
  return [
    { x: a.x, y: a.y },
    { x: b.x, y: a.y },
    { x: b.x, y: b.y },
    { x: a.x, y: b.y },
  ];
}

export function centroid(points: readonly Point[]): Point {
  if (points.length === 0) return { x: 0, y: 0 };
  const s = points.reduce((acc, p) => ({ x: acc.x + p.x, y: acc.y + p.y }), { x: 0, y: 0 });
  return { x: s.x / points.length, y: s.y / points.length };
}

const formats = new Map<number, Intl.NumberFormat>();

/**
 * `v` with exactly `digits` decimals and thousands separators. One formatter per digit count:
 * `toLocaleString` with options builds a new one each call (~0.1 ms; a list of 200 measured
 * annotations spent ~50 ms of its first render there).
 */
export function fixed(v: number, digits: number): string {
  let f = formats.get(digits);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
    formats.set(digits, f);
  }
  return f.format(v);
}

/** µm below 1 mm, mm above; pixels when the slide has no calibration. */
export function formatLength(value: number, calibrated: boolean): string {
  if (!calibrated) return `${fixed(value, 0)} px`;
  if (value < 10) return `${fixed(value, 2)} µm`;
  if (value < 1000) return `${fixed(value, 1)} µm`;
  return `${fixed(value / 1000, value < 10_000 ? 3 : 2)} mm`;
}

/** µm² for small regions, mm² from 0.01 mm² (the size of a high-power field's tenth). */
export function formatArea(valueUm2: number, calibrated: boolean): string {
  if (!calibrated) return `${fixed(valueUm2, 0)} px²`;
  if (valueUm2 < 10_000) return `${fixed(valueUm2, valueUm2 < 100 ? 1 : 0)} µm²`;
  const mm2 = valueUm2 / 1e6;
  return `${fixed(mm2, mm2 < 1 ? 4 : 3)} mm²`;
}

/** a then b, as one affine map. */
export function compose(b: Affine, a: Affine): Affine {
  return [
    b[0] * a[0] + b[2] * a[1],
    b[1] * a[0] + b[3] * a[1],
    b[0] * a[2] + b[2] * a[3],
    b[1] * a[2] + b[3] * a[3],
    b[0] * a[4] + b[2] * a[5] + b[4],
    b[1] * a[4] + b[3] * a[5] + b[5],
  ];
}

/**
 * The screen → screen move from the transform the shapes were drawn with to the frame's, as CSS
 * (`none` when there is none).
 */
export function cssMove(drawn: Affine, now: Affine): string {
  const m = compose(now, invert(drawn));
  const still = Math.abs(m[0] - 1) + Math.abs(m[1]) + Math.abs(m[2]) + Math.abs(m[3] - 1) < 1e-9;
  if (still && Math.abs(m[4]) < 1e-6 && Math.abs(m[5]) < 1e-6) return 'none';
  return `matrix(${m.join(', ')})`;
}
