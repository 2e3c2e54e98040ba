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
import { HttpError } from '../http/errors.ts';

type Pt = [number, number];
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
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [
    [Math.min(...xs), Math.min(...ys)],
    [Math.max(...xs), Math.max(...ys)],
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
      classification: { name: a.classification.name, color: hexToRgb(a.classification.color) },
      ...(a.label ? { name: a.label } : {}),
      isLocked: false,
      tessera: { kind: a.kind, authorName: a.authorName, createdAt: a.createdAt, comments: a.comments },
    },
  };
}

export function toFeatureCollection(list: AnnotationDto[]): GeoJsonFeatureCollection {
  return { type: 'FeatureCollection', features: list.map(toFeature) };
}

function coords(v: unknown, where: string): Pt {
  if (
    Array.isArray(v) &&
    v.length >= 2 &&
    typeof v[0] === 'number' &&
    typeof v[1] === 'number' &&
    Number.isFinite(v[0]) &&
    Number.isFinite(v[1])
  )
    return [v[0], v[1]];
  throw new HttpError('INVALID_PARAMETER', `${where}: expected [x, y] numbers`);
}

/**
 * Create operations for a FeatureCollection from QuPath or from Tessera's own export. Each feature
 * gets a new id (an import never overwrites). Throws INVALID_PARAMETER naming the first bad feature.
 */
export function fromFeatureCollection(body: unknown, maxFeatures = 10_000): Operation[] {
  const fc = body as { type?: unknown; features?: unknown };
  const features: unknown[] =
    fc?.type === 'FeatureCollection' && Array.isArray(fc.features)
      ? fc.features
      : Array.isArray(body)
        ? body
        : (body as { type?: unknown })?.type === 'Feature'
          ? [body]
          : (() => {
              throw new HttpError(
                'INVALID_PARAMETER',
                'Expected a GeoJSON FeatureCollection, Feature or array of features',
              );
            })();
  if (features.length > maxFeatures)
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected at most ${maxFeatures} features but received ${features.length}`,
    );
  return features.map((raw, i) => {
    const where = `features[${i}]`;
    const f = raw as {
      geometry?: { type?: unknown; coordinates?: unknown };
      properties?: Record<string, unknown>;
    };
    const props = f?.properties ?? {};
    const g = f?.geometry;
    if (!g || typeof g.type !== 'string') throw new HttpError('INVALID_PARAMETER', `${where}: no geometry`);
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
      throw new HttpError(
        'INVALID_PARAMETER',
        `${where}: geometry ${String(g.type)} is not supported (Point, LineString, Polygon)`,
      );
    }
    if (points.length === 0 || points.length > 20_000)
      throw new HttpError('INVALID_PARAMETER', `${where}: expected 1 to 20000 points`);
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
