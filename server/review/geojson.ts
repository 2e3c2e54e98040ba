import { randomUUID } from 'node:crypto';
import {
  ANNOTATION_CLASSES,
  ANNOTATION_KINDS,
  type AnnotationDto,
  type AnnotationKind,
  type GeoJsonFeature,
  type GeoJsonFeatureCollection,
  type Operation,
} from '../../protocol/index.ts';

type Pt = [number, number];

/**
 * A refused import, with the code the route answers. Not HttpError: this module also runs in the
 * import worker thread, which should not load the HTTP layer (and with it the imaging core).
 */
export class GeoJsonRefused extends Error {
  constructor(
    readonly code: 'INVALID_PARAMETER' | 'IMPORT_TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}
const ELLIPSE_STEPS = 64;

function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function rgbToHex(c: unknown): string | null {
  let rgb: number[] | null = null;
  if (Array.isArray(c) && c.length >= 3 && c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255))
    rgb = c.slice(0, 3) as number[];
  // QuPath before 0.4 wrote a packed (A)RGB integer.
  else if (typeof c === 'number' && Number.isInteger(c)) rgb = [(c >> 16) & 255, (c >> 8) & 255, c & 255];
  return rgb ? `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}` : null;
}

const closed = (ring: Pt[]): Pt[] => {
  const f = ring[0]!;
  const l = ring[ring.length - 1]!;
  return f[0] === l[0] && f[1] === l[1] ? ring : [...ring, f];
};

function ellipseRing([a, b]: [Pt, Pt]): Pt[] {
  const cx = (a[0] + b[0]) / 2;
  const cy = (a[1] + b[1]) / 2;
  const rx = Math.abs(b[0] - a[0]) / 2;
  const ry = Math.abs(b[1] - a[1]) / 2;
  const ring: Pt[] = [];
  for (let i = 0; i < ELLIPSE_STEPS; i++) {
    const t = (2 * Math.PI * i) / ELLIPSE_STEPS;
    // Exact at the four extremes, so the bounding box survives the round trip.
    const c = i % (ELLIPSE_STEPS / 4) === 0 ? Math.round(Math.cos(t)) : Math.cos(t);
    const s = i % (ELLIPSE_STEPS / 4) === 0 ? Math.round(Math.sin(t)) : Math.sin(t);
    ring.push([cx + rx * c, cy + ry * s]);
  }
  return closed(ring);
}

function bbox(points: Pt[]): [Pt, Pt] {
  // A loop, not Math.min(...xs): spreading 200,000 arguments overflows the stack.
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of points) {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return [
    [x0, y0],
    [x1, y1],
  ];
}

/** One annotation as QuPath writes it (objectType, classification {name, color [r,g,b]}). */
export function toFeature(a: AnnotationDto): GeoJsonFeature {
  const pts = a.geometry.points as Pt[];
  let geometry: GeoJsonFeature['geometry'];
  switch (a.kind) {
    case 'point':
      geometry = { type: 'Point', coordinates: pts[0]! };
      break;
    case 'line':
      geometry = { type: 'LineString', coordinates: pts };
      break;
    case 'rectangle': {
      const [p, q] = bbox(pts);
      geometry = { type: 'Polygon', coordinates: [closed([p, [q[0], p[1]], q, [p[0], q[1]]])] };
      break;
    }
    case 'ellipse':
      geometry = { type: 'Polygon', coordinates: [ellipseRing(bbox(pts))] };
      break;
    default:
      geometry = { type: 'Polygon', coordinates: [closed(pts)] };
  }
  return {
    type: 'Feature',
    id: a.id,
    geometry,
    properties: {
      objectType: 'annotation',
      ...(a.classification
        ? { classification: { name: a.classification.name, color: hexToRgb(a.classification.color) } }
        : {}),
      ...(a.label ? { name: a.label } : {}),
      isLocked: false,
      tessera: { kind: a.kind, authorName: a.authorName, createdAt: a.createdAt, comments: a.comments },
    },
  };
}

export function toFeatureCollection(list: AnnotationDto[]): GeoJsonFeatureCollection {
  return { type: 'FeatureCollection', features: list.map(toFeature) };
}

/**
 * What one GeoJSON import may hold. Over a count limit the whole import is refused with 413
 * IMPORT_TOO_LARGE before anything is stored; a bad feature is 400 INVALID_PARAMETER naming it.
 */
export const GEOJSON_IMPORT_LIMITS = {
  /** Request body, bytes. */
  bodyBytes: 20 * 1024 * 1024,
  features: 10_000,
  /** Positions in one feature's geometry (the socket protocol's limit for one annotation). */
  pointsPerFeature: 20_000,
  /** Positions in the whole import. */
  points: 1_000_000,
  /** Largest absolute coordinate (level-0 pixels), as in the socket protocol. */
  coordinate: 1e7,
};
export type GeoJsonImportLimits = typeof GEOJSON_IMPORT_LIMITS;

/** Deepest nesting of GeoJSON coordinates we read: Polygon (rings of positions of numbers). */
const MAX_COORDINATE_DEPTH = 3;

/**
 * Positions in a geometry's coordinates, counted without recursion and given up on past `max`
 * (returns max + 1), so a 200,000-point ring or arrays nested thousands deep cost one bounded loop.
 */
function countPositions(coordinates: unknown, where: string, max: number): number {
  let count = 0;
  let visited = 0;
  const stack: [unknown, number][] = [[coordinates, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (!Array.isArray(v)) continue;
    if (++visited > 2 * max + 16) return max + 1;
    if (v.length > 0 && !Array.isArray(v[0])) {
      if (++count > max) return count;
      continue;
    }
    if (depth >= MAX_COORDINATE_DEPTH && v.length > 0)
      throw new GeoJsonRefused(
        'INVALID_PARAMETER',
        `${where}: coordinates nested deeper than a Polygon's (MultiPolygon and collections are not supported)`,
      );
    for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], depth + 1]);
  }
  return count;
}

function coords(v: unknown, where: string): Pt {
  if (
    Array.isArray(v) &&
    v.length >= 2 &&
    typeof v[0] === 'number' &&
    typeof v[1] === 'number' &&
    Number.isFinite(v[0]) &&
    Number.isFinite(v[1])
  ) {
    const max = GEOJSON_IMPORT_LIMITS.coordinate;
    if (Math.abs(v[0]) > max || Math.abs(v[1]) > max)
      throw new GeoJsonRefused(
        'INVALID_PARAMETER',
        `${where}: coordinate [${v[0]}, ${v[1]}] is outside ±${max} (level-0 pixels)`,
      );
    return [v[0], v[1]];
  }
  throw new GeoJsonRefused('INVALID_PARAMETER', `${where}: expected [x, y] finite numbers`);
}

/** The features of a FeatureCollection, an array of features or a single Feature. */
function featuresOf(body: unknown): unknown[] {
  const fc = body as { type?: unknown; features?: unknown } | null;
  if (fc?.type === 'FeatureCollection' && Array.isArray(fc.features)) return fc.features;
  if (Array.isArray(body)) return body;
  if (fc?.type === 'Feature') return [body];
  throw new GeoJsonRefused(
    'INVALID_PARAMETER',
    'Expected a GeoJSON FeatureCollection, Feature or array of features',
  );
}

/**
 * Create operations for a FeatureCollection from QuPath or from Tessera's own export. Each feature
 * gets a new id (an import never overwrites). Sizes are checked first, iteratively, before any
 * feature is read; then throws INVALID_PARAMETER naming the first bad feature.
 */
export function fromFeatureCollection(
  body: unknown,
  limits: GeoJsonImportLimits = GEOJSON_IMPORT_LIMITS,
): Operation[] {
  const features = featuresOf(body);
  if (features.length > limits.features)
    throw new GeoJsonRefused(
      'IMPORT_TOO_LARGE',
      `Expected at most ${limits.features} features in one import but received ${features.length}`,
    );
  let total = 0;
  for (let i = 0; i < features.length; i++) {
    const g = (features[i] as { geometry?: { coordinates?: unknown } } | null)?.geometry;
    const n = countPositions(g?.coordinates, `features[${i}]`, limits.pointsPerFeature);
    if (n > limits.pointsPerFeature)
      throw new GeoJsonRefused(
        'INVALID_PARAMETER',
        `features[${i}]: expected at most ${limits.pointsPerFeature} points in a geometry`,
      );
    total += n;
    if (total > limits.points)
      throw new GeoJsonRefused(
        'IMPORT_TOO_LARGE',
        `Expected at most ${limits.points} points in one import (reached at features[${i}])`,
      );
  }
  return features.map((raw, i) => {
    const where = `features[${i}]`;
    const f = raw as {
      geometry?: { type?: unknown; coordinates?: unknown };
      properties?: Record<string, unknown>;
    };
    const props = f?.properties ?? {};
    const g = f?.geometry;
    if (!g || typeof g.type !== 'string')
      throw new GeoJsonRefused('INVALID_PARAMETER', `${where}: no geometry`);
    const own = props.tessera as { kind?: unknown } | undefined;
    const declared = ANNOTATION_KINDS.includes(own?.kind as AnnotationKind)
      ? (own!.kind as AnnotationKind)
      : null;
    let kind: AnnotationKind;
    let points: Pt[];
    if (g.type === 'Point') {
      kind = 'point';
      points = [coords(g.coordinates, where)];
    } else if (g.type === 'LineString' && Array.isArray(g.coordinates)) {
      kind = 'line';
      points = g.coordinates.map((c) => coords(c, where));
    } else if (g.type === 'Polygon' && Array.isArray(g.coordinates) && Array.isArray(g.coordinates[0])) {
      const ring = (g.coordinates[0] as unknown[]).map((c) => coords(c, where));
      const open =
        ring.length > 1 && ring[0]![0] === ring.at(-1)![0] && ring[0]![1] === ring.at(-1)![1]
          ? ring.slice(0, -1)
          : ring;
      kind =
        declared === 'rectangle' || declared === 'ellipse' || declared === 'freehand' ? declared : 'polygon';
      points = kind === 'rectangle' || kind === 'ellipse' ? bbox(open) : open;
    } else {
      throw new GeoJsonRefused(
        'INVALID_PARAMETER',
        `${where}: geometry ${String(g.type)} is not supported (Point, LineString, Polygon)`,
      );
    }
    if (points.length === 0 || points.length > limits.pointsPerFeature)
      throw new GeoJsonRefused(
        'INVALID_PARAMETER',
        `${where}: expected 1 to ${limits.pointsPerFeature} points`,
      );
    const cls = props.classification as { name?: unknown; color?: unknown } | undefined;
    const name = typeof cls?.name === 'string' && cls.name.length > 0 ? cls.name.slice(0, 64) : 'Other';
    const color =
      rgbToHex(cls?.color) ??
      ANNOTATION_CLASSES.find((c) => c.name === name)?.color ??
      ANNOTATION_CLASSES.at(-1)!.color;
    const label = typeof props.name === 'string' ? props.name.slice(0, 500) : '';
    return {
      type: 'create' as const,
      opId: randomUUID(),
      annotation: { id: randomUUID(), kind, geometry: { points }, classification: { name, color }, label },
    };
  });
}
