import { randomUUID } from 'node:crypto';
import {
  ANNOTATION_CLASSES,
  ANNOTATION_KINDS,
  OperationSchema,
  type AnnotationClass,
  type AnnotationDto,
  type AnnotationKind,
  type GeoJsonAreaGeometry,
  type GeoJsonFeature,
  type GeoJsonFeatureCollection,
  type GeoJsonFeatureError,
  type GeoJsonGeometry,
  type GeoJsonPosition,
  type GeoJsonRgb,
  type Geometry,
  type ObjectType,
  type Operation,
} from '../../protocol/index.ts';

type Pt = GeoJsonPosition;
type Rgb = GeoJsonRgb;
interface Part {
  points: Pt[];
  holes?: Pt[][];
}
type CreateOp = Extract<Operation, { type: 'create' }>;

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

/** One feature an import could not store, and why (`reason` starts with `features[index]: `). */
export type FeatureError = GeoJsonFeatureError;

// ---- GeoJSON as QuPath writes it (qupath.lib.io.PathObjectTypeAdapters, ROITypeAdapters) ----
// The shapes are protocol/geojson.ts's.

const ELLIPSE_STEPS = 64;

function hexToRgb(hex: string): Rgb {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const samePoint = (a: Pt, b: Pt): boolean => a[0] === b[0] && a[1] === b[1];

const closed = (ring: Pt[]): Pt[] => (samePoint(ring[0]!, ring.at(-1)!) ? ring : [...ring, ring[0]!]);

/** Shoelace area of an open ring: positive when it runs counterclockwise with y up (RFC 7946's sense). */
function signedArea(ring: Pt[]): number {
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x0, y0] = ring[i]!;
    const [x1, y1] = ring[(i + 1) % ring.length]!;
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

/**
 * An open ring turned to RFC 7946's right-hand rule (outer rings counterclockwise, holes clockwise),
 * its first point kept. Import and export both apply it, so a round trip keeps the vertex order.
 */
function oriented(ring: Pt[], outer: boolean): Pt[] {
  const a = signedArea(ring);
  if (a === 0 || a > 0 === outer) return ring;
  return [ring[0]!, ...ring.slice(1).reverse()];
}

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

/** GeoJSON rings of one polygon: closed, outer ring first, holes after it. */
const ringsOf = (p: Part): Pt[][] => [
  closed(oriented(p.points, true)),
  ...(p.holes ?? []).map((h) => closed(oriented(h, false))),
];

/** A polygon-like geometry: MultiPolygon when it has parts (or `multi`), otherwise Polygon with holes. */
function areaGeometry(g: Geometry, multi: boolean): GeoJsonAreaGeometry {
  const parts = (g.parts as Part[] | undefined) ?? (multi ? [g as Part] : undefined);
  return parts
    ? { type: 'MultiPolygon', coordinates: parts.map(ringsOf) }
    : { type: 'Polygon', coordinates: ringsOf(g as Part) };
}

function geometryOf(a: AnnotationDto): GeoJsonGeometry {
  const pts = a.geometry.points as Pt[];
  switch (a.kind) {
    case 'point':
      return { type: 'Point', coordinates: pts[0]! };
    case 'multipoint':
      return { type: 'MultiPoint', coordinates: pts };
    case 'line':
    case 'polyline':
      return { type: 'LineString', coordinates: pts };
    case 'rectangle': {
      const [p, q] = bbox(pts);
      return { type: 'Polygon', coordinates: [closed([p, [q[0], p[1]], q, [p[0], q[1]]])] };
    }
    case 'ellipse':
      return { type: 'Polygon', coordinates: [ellipseRing(bbox(pts))], isEllipse: true };
    case 'multipolygon':
      return areaGeometry(a.geometry, true);
    default:
      return areaGeometry(a.geometry, false);
  }
}

/** QuPath writes a derived class ("Tumor: Positive") as its names. */
function classificationOut(c: AnnotationClass): NonNullable<GeoJsonFeature['properties']['classification']> {
  const color = hexToRgb(c.color);
  const names = c.name.split(': ');
  return names.length > 1 && names.every((n) => n.length > 0) ? { names, color } : { name: c.name, color };
}

/** One annotation as QuPath writes its objects. */
export function toFeature(a: AnnotationDto): GeoJsonFeature {
  const objectType = a.objectType ?? 'annotation';
  return {
    type: 'Feature',
    id: a.id,
    geometry: geometryOf(a),
    ...(objectType === 'cell' && a.nucleus
      ? { nucleusGeometry: areaGeometry(a.nucleus, a.nucleus.parts !== undefined) }
      : {}),
    properties: {
      objectType,
      ...(a.label ? { name: a.label } : {}),
      ...(a.color ? { color: hexToRgb(a.color) } : {}),
      ...(a.classification ? { classification: classificationOut(a.classification) } : {}),
      ...(a.locked ? { isLocked: true as const } : {}),
      ...(a.measurements && Object.keys(a.measurements).length > 0 ? { measurements: a.measurements } : {}),
      tessera: { kind: a.kind, authorName: a.authorName, createdAt: a.createdAt, comments: a.comments },
    },
  };
}

export function toFeatureCollection(list: AnnotationDto[]): GeoJsonFeatureCollection {
  return { type: 'FeatureCollection', features: list.map(toFeature) };
}

// ---- Import ----

/**
 * What one GeoJSON import may hold. Over the body, feature or total point limit the whole import is
 * refused with 413 IMPORT_TOO_LARGE before anything is stored; a feature over its own limit, or bad in
 * any other way, is left out and reported, and the rest is stored.
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
  /** Refused features listed in a report; the rest are counted in one last entry. */
  listedErrors: 1000,
};
export type GeoJsonImportLimits = typeof GEOJSON_IMPORT_LIMITS;

/** A feature that cannot be stored; the message is the reason. */
class BadFeature extends Error {}

/** How deep each geometry's coordinates nest (a position is an array of numbers). */
const DEPTH = new Map<string, number>([
  ['Point', 1],
  ['MultiPoint', 2],
  ['LineString', 2],
  ['Polygon', 3],
  ['MultiPolygon', 4],
]);
const GEOMETRY_TYPES = [...DEPTH.keys()].join(', ');

/** QuPath's object types, with the names QuPath 0.2 (`id`) and 0.3 (`object_type`) used. */
const OBJECT_TYPE_NAMES = new Map<string, ObjectType | null>([
  ['annotation', 'annotation'],
  ['PathAnnotationObject', 'annotation'],
  ['detection', 'detection'],
  ['PathDetectionObject', 'detection'],
  // A tile is a detection in QuPath's class hierarchy; Tessera keeps it as one.
  ['tile', 'detection'],
  ['PathTileObject', 'detection'],
  ['cell', 'cell'],
  ['PathCellObject', 'cell'],
  ['tmaCore', null],
  ['tma_core', null],
  ['TMACoreObject', null],
  ['root', null],
  ['PathRootObject', null],
]);

/** A value in a reason, short; numbers as JavaScript reads them (1e999 is Infinity, not JSON's null). */
const shown = (v: unknown): string =>
  (typeof v === 'string'
    ? v
    : Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)
      ? `[${v.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(', ')}]`
      : (JSON.stringify(v) ?? String(v))
  ).slice(0, 40);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Positions in a geometry's coordinates, counted without recursion and given up on past `max`
 * (returns max + 1), so a 200,000-point ring or arrays nested thousands deep cost one bounded loop.
 */
function countPositions(coordinates: unknown, type: string, depthLimit: number, max: number): number {
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
    if (depth >= depthLimit && v.length > 0)
      throw new BadFeature(`coordinates nested deeper than a ${type}'s`);
    for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], depth + 1]);
  }
  return count;
}

/** Positions in a geometry; refuses an unsupported type, bad nesting or more than `max` positions. */
function sizeOf(g: unknown, max: number, what = ''): number {
  if (!isObject(g)) throw new BadFeature(`no ${what || 'geometry'}`);
  const type = typeof g.type === 'string' ? g.type : '';
  const depth = DEPTH.get(type);
  if (depth === undefined || (what && type !== 'Polygon' && type !== 'MultiPolygon'))
    throw new BadFeature(
      `unsupported ${what || 'geometry'} ${shown(g.type)} (supported: ${what ? 'Polygon, MultiPolygon' : GEOMETRY_TYPES})`,
    );
  const n = countPositions(g.coordinates, type, depth, max);
  if (n > max) throw new BadFeature(`expected at most ${max} points in a ${what || 'geometry'}`);
  return n;
}

function point(v: unknown, limits: GeoJsonImportLimits): Pt {
  if (
    Array.isArray(v) &&
    v.length >= 2 &&
    typeof v[0] === 'number' &&
    typeof v[1] === 'number' &&
    Number.isFinite(v[0]) &&
    Number.isFinite(v[1])
  ) {
    const max = limits.coordinate;
    if (Math.abs(v[0]) > max || Math.abs(v[1]) > max)
      throw new BadFeature(`coordinate [${v[0]}, ${v[1]}] is outside ±${max} (level-0 pixels)`);
    return [v[0], v[1]];
  }
  throw new BadFeature(`expected [x, y] finite numbers but found ${shown(v)}`);
}

function pointList(v: unknown, what: string, limits: GeoJsonImportLimits): Pt[] {
  if (!Array.isArray(v)) throw new BadFeature(`${what} coordinates are not a list of positions`);
  return v.map((c) => point(c, limits));
}

/** One polygon's rings: the outer ring and its holes, open, in RFC 7946's orientation. */
function polygonOf(v: unknown, limits: GeoJsonImportLimits, which = ''): Part {
  if (!Array.isArray(v) || v.length === 0) throw new BadFeature(`polygon${which} has no rings`);
  const rings = v.map((r, k) => {
    const ring = pointList(r, 'polygon ring', limits);
    const open = ring.length > 1 && samePoint(ring[0]!, ring.at(-1)!) ? ring.slice(0, -1) : ring;
    if (open.length < 3)
      throw new BadFeature(
        `polygon ring has ${ring.length} point${ring.length === 1 ? '' : 's'} (${k === 0 ? 'outer ring' : `hole ${k}`}${which}; a ring needs 3 corners)`,
      );
    return oriented(open, k === 0);
  });
  return rings.length > 1 ? { points: rings[0]!, holes: rings.slice(1) } : { points: rings[0]! };
}

/** The kind and stored geometry of a GeoJSON geometry; `declared` is Tessera's own kind, if given. */
function shapeOf(
  g: Record<string, unknown>,
  declared: AnnotationKind | null,
  limits: GeoJsonImportLimits,
): { kind: AnnotationKind; geometry: Geometry } {
  switch (g.type) {
    case 'Point':
      return { kind: 'point', geometry: { points: [point(g.coordinates, limits)] } };
    case 'MultiPoint': {
      const points = pointList(g.coordinates, 'MultiPoint', limits);
      if (points.length === 0) throw new BadFeature('MultiPoint has no points');
      return { kind: 'multipoint', geometry: { points } };
    }
    case 'LineString': {
      const points = pointList(g.coordinates, 'LineString', limits);
      if (points.length < 2)
        throw new BadFeature(
          `LineString has ${points.length} point${points.length === 1 ? '' : 's'} (at least 2)`,
        );
      return {
        kind: points.length === 2 && declared !== 'polyline' ? 'line' : 'polyline',
        geometry: { points },
      };
    }
    case 'Polygon': {
      const part = polygonOf(g.coordinates, limits);
      // QuPath marks an ellipse ROI with `isEllipse`; Tessera's own export also says rectangle.
      const box =
        g.isEllipse === true
          ? 'ellipse'
          : declared === 'rectangle' || declared === 'ellipse'
            ? declared
            : null;
      if (box && !part.holes) return { kind: box, geometry: { points: bbox(part.points) } };
      return { kind: declared === 'freehand' ? 'freehand' : 'polygon', geometry: part };
    }
    default: {
      if (!Array.isArray(g.coordinates) || g.coordinates.length === 0)
        throw new BadFeature('MultiPolygon has no polygons');
      const parts = g.coordinates.map((p, k) => polygonOf(p, limits, ` of polygon ${k}`));
      return { kind: 'multipolygon', geometry: { points: parts[0]!.points, parts } };
    }
  }
}

/** A nucleus (or any area) as stored: parts for a MultiPolygon, points and holes for a Polygon. */
function areaOf(g: Record<string, unknown>, limits: GeoJsonImportLimits): Geometry {
  if (g.type === 'Polygon') return polygonOf(g.coordinates, limits, ' of nucleusGeometry');
  if (!Array.isArray(g.coordinates) || g.coordinates.length === 0)
    throw new BadFeature('nucleusGeometry MultiPolygon has no polygons');
  const parts = g.coordinates.map((p, k) => polygonOf(p, limits, ` of nucleusGeometry polygon ${k}`));
  return { points: parts[0]!.points, parts };
}

/** `#rrggbb` from QuPath's [r, g, b], [r, g, b, a] or packed (A)RGB integer (before 0.4). */
function colourOf(c: unknown, what: string): string {
  let rgb: number[] | null = null;
  if (
    Array.isArray(c) &&
    (c.length === 3 || c.length === 4) &&
    c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)
  )
    rgb = c.slice(0, 3) as number[];
  else if (typeof c === 'number' && Number.isInteger(c)) rgb = [(c >> 16) & 255, (c >> 8) & 255, c & 255];
  if (!rgb) throw new BadFeature(`${what} ${shown(c)} is not [r, g, b] (0-255) nor a packed RGB integer`);
  return `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * QuPath's classification: {name, color}, {names: [...], color} for a derived class, a bare name,
 * or before 0.4 {name, colorRGB}. Absent, null or nameless: unclassified.
 */
function classificationOf(c: unknown): AnnotationClass | null {
  if (c === undefined || c === null) return null;
  let name: string;
  let colour: unknown;
  if (typeof c === 'string') name = c;
  else if (isObject(c)) {
    if (Array.isArray(c.names)) {
      if (!c.names.every((n) => typeof n === 'string' && n.length > 0))
        throw new BadFeature('classification names are not all non-empty strings');
      name = c.names.join(': ');
    } else if (typeof c.name === 'string') name = c.name;
    else if (c.name === undefined || c.name === null) return null;
    else throw new BadFeature(`classification name ${shown(c.name)} is not a string`);
    colour = c.color ?? c.colorRGB;
  } else throw new BadFeature('classification is neither an object nor a name');
  if (name.length === 0) return null;
  if (name.length > 64) throw new BadFeature(`classification name is ${name.length} characters (at most 64)`);
  const color =
    colour === undefined || colour === null
      ? (ANNOTATION_CLASSES.find((k) => k.name === name)?.color ?? ANNOTATION_CLASSES.at(-1)!.color)
      : colourOf(colour, 'classification color');
  return { name, color };
}

/**
 * QuPath's measurements: {name: value} (0.4 on) or [{name, value}] (before). A NaN or infinite value
 * (QuPath writes NaN for a measurement it has no value for) is no value, and left out.
 */
function measurementsOf(m: unknown): Record<string, number> | undefined {
  if (m === undefined || m === null) return undefined;
  let entries: [unknown, unknown][];
  if (Array.isArray(m))
    entries = m.map((e) => {
      if (!isObject(e)) throw new BadFeature('measurements list holds something other than {name, value}');
      return [e.name, e.value];
    });
  else if (isObject(m)) entries = Object.entries(m);
  else throw new BadFeature('measurements is neither an object nor a list of {name, value}');
  const kept: [string, number][] = [];
  for (const [name, value] of entries) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200)
      throw new BadFeature(`measurement name ${shown(name)} is not a string of 1 to 200 characters`);
    if (value === null || (typeof value === 'number' && !Number.isFinite(value))) continue;
    if (typeof value !== 'number') throw new BadFeature(`measurement "${name}" is not a number`);
    kept.push([name, value]);
  }
  if (kept.length > 500) throw new BadFeature(`${kept.length} measurements (at most 500)`);
  // fromEntries defines every name as an own property, "__proto__" included.
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

function objectTypeOf(f: Record<string, unknown>, props: Record<string, unknown>): ObjectType {
  const legacy = typeof f.id === 'string' && /^Path\w+Object$|^TMACoreObject$/.test(f.id) ? f.id : undefined;
  const raw = props.objectType ?? props.object_type ?? props.type ?? legacy;
  if (raw === undefined || raw === null) return 'annotation';
  if (typeof raw !== 'string') throw new BadFeature(`objectType ${shown(raw)} is not a string`);
  const t = OBJECT_TYPE_NAMES.get(raw);
  if (t === null)
    throw new BadFeature(`objectType ${shown(raw)} is not supported (annotation, detection, tile, cell)`);
  // QuPath reads an unknown type as an annotation too.
  return t ?? 'annotation';
}

const propertiesOf = (f: Record<string, unknown>): Record<string, unknown> => {
  if (f.properties === undefined || f.properties === null) return {};
  if (!isObject(f.properties)) throw new BadFeature('properties is not an object');
  return f.properties;
};

/** The nucleus geometry a cell carries (QuPath puts it beside `geometry`; accepted in properties too). */
const nucleusGeometryOf = (f: Record<string, unknown>, props: Record<string, unknown>): unknown =>
  f.nucleusGeometry ?? props.nucleusGeometry ?? null;

/** Positions a feature holds (geometry and a cell's nucleus), checked against the per-geometry limit. */
function featureSize(raw: unknown, limits: GeoJsonImportLimits): number {
  if (!isObject(raw)) throw new BadFeature('not a GeoJSON Feature (an object)');
  if (raw.type !== undefined && raw.type !== 'Feature')
    throw new BadFeature(`expected a Feature but found type ${shown(raw.type)}`);
  const props = propertiesOf(raw);
  let n = sizeOf(raw.geometry, limits.pointsPerFeature);
  const nucleus = nucleusGeometryOf(raw, props);
  if (nucleus !== null && objectTypeOf(raw, props) === 'cell')
    n += sizeOf(nucleus, limits.pointsPerFeature, 'nucleusGeometry');
  return n;
}

function readFeature(raw: Record<string, unknown>, limits: GeoJsonImportLimits): CreateOp {
  const props = propertiesOf(raw);
  const objectType = objectTypeOf(raw, props);
  const own = isObject(props.tessera) ? props.tessera.kind : undefined;
  const declared = ANNOTATION_KINDS.includes(own as AnnotationKind) ? (own as AnnotationKind) : null;
  const { kind, geometry } = shapeOf(raw.geometry as Record<string, unknown>, declared, limits);
  const nucleusRaw = nucleusGeometryOf(raw, props);
  const nucleus =
    objectType === 'cell' && nucleusRaw !== null
      ? areaOf(nucleusRaw as Record<string, unknown>, limits)
      : null;
  const name = props.name;
  if (name !== undefined && name !== null && typeof name !== 'string' && typeof name !== 'number')
    throw new BadFeature('name is not a string');
  const label = name === undefined || name === null ? '' : String(name);
  if (label.length > 500) throw new BadFeature(`name is ${label.length} characters (at most 500)`);
  const color = props.color === undefined || props.color === null ? null : colourOf(props.color, 'color');
  const measurements = measurementsOf(props.measurements);
  const op: CreateOp = {
    type: 'create',
    opId: randomUUID(),
    annotation: {
      id: randomUUID(),
      kind,
      geometry,
      classification: classificationOf(props.classification),
      label,
      objectType,
      ...(color ? { color } : {}),
      ...(props.isLocked === true ? { locked: true } : {}),
      ...(nucleus ? { nucleus } : {}),
      ...(measurements ? { measurements } : {}),
    },
  };
  // The schema a live session's operations pass, for all but the geometries: those were read point by
  // point above, and zod's tuple per point would double an import's time.
  const stub = { points: [[0, 0]] };
  const checked = OperationSchema.safeParse({
    ...op,
    annotation: { ...op.annotation, geometry: stub, ...(nucleus ? { nucleus: stub } : {}) },
  });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new BadFeature(`${issue.path.slice(1).join('.')}: ${issue.message}`);
  }
  return op;
}

/** The features of a FeatureCollection, an array of features (QuPath without FEATURE_COLLECTION) or one Feature. */
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
 * Create operations for the features of a QuPath (0.2 to 0.5) or Tessera export. Each feature gets a
 * new id (an import never overwrites). Sizes are checked first, iteratively, before any feature is
 * read: over the feature count or the total point count the whole import is refused (413). A feature
 * that cannot be stored is left out and reported with its index and the reason (the first
 * `listedErrors`, then a count; `refused` counts them all); the rest are returned in file order.
 */
export function fromFeatureCollection(
  body: unknown,
  limits: GeoJsonImportLimits = GEOJSON_IMPORT_LIMITS,
): { ops: CreateOp[]; errors: FeatureError[]; refused: number } {
  const features = featuresOf(body);
  if (features.length > limits.features)
    throw new GeoJsonRefused(
      'IMPORT_TOO_LARGE',
      `Expected at most ${limits.features} features in one import but received ${features.length}`,
    );
  const bad = new Map<number, string>();
  const refuse = (i: number, e: unknown): void => {
    if (!(e instanceof BadFeature)) throw e;
    bad.set(i, `features[${i}]: ${e.message}`);
  };
  let total = 0;
  for (let i = 0; i < features.length; i++) {
    try {
      total += featureSize(features[i], limits);
    } catch (e) {
      refuse(i, e);
      continue;
    }
    if (total > limits.points)
      throw new GeoJsonRefused(
        'IMPORT_TOO_LARGE',
        `Expected at most ${limits.points} points in one import (reached at features[${i}])`,
      );
  }
  const ops: CreateOp[] = [];
  for (let i = 0; i < features.length; i++) {
    if (bad.has(i)) continue;
    try {
      ops.push(readFeature(features[i] as Record<string, unknown>, limits));
    } catch (e) {
      refuse(i, e);
    }
  }
  const errors = [...bad.entries()].sort((a, b) => a[0] - b[0]).map(([index, reason]) => ({ index, reason }));
  const unlisted = errors.length - limits.listedErrors;
  if (unlisted > 0)
    errors.splice(limits.listedErrors, unlisted, {
      index: errors[limits.listedErrors]!.index,
      reason: `${unlisted} more bad features (not listed)`,
    });
  return { ops, errors, refused: bad.size };
}

/**
 * The body's JSON. QuPath writes a measurement without a value as a bare NaN (Gson with special
 * floating-point values), which JSON.parse refuses: only then, NaN and ±Infinity outside strings are
 * read as null, and the measurement is left out.
 */
export function parseGeoJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!/NaN|Infinity/.test(text)) throw e;
    try {
      return JSON.parse(nonFiniteAsNull(text));
    } catch {
      throw e;
    }
  }
}

function nonFiniteAsNull(text: string): string {
  const out: string[] = [];
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    const len =
      c === 78 && text.startsWith('NaN', i)
        ? 3
        : c === 73 && text.startsWith('Infinity', i)
          ? 8
          : c === 45 && text.startsWith('-Infinity', i)
            ? 9
            : 0;
    if (len > 0) {
      out.push(text.slice(from, i), 'null');
      i += len - 1;
      from = i + 1;
    }
  }
  out.push(text.slice(from));
  return out.join('');
}
