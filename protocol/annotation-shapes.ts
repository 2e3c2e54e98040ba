import type { AnnotationDto, AnnotationKind, Geometry } from './review.ts';

/*
 * Annotations as a canvas draws them, packed into flat typed arrays: built by the viewer from
 * its list, or sent by the server ready-made (`GET /api/slides/{id}/annotations?format=shapes`),
 * so that the viewer's first drawing of thousands of annotations needs no JSON parsing and no
 * packing (with 5,000: ~3 MB of JSON, ~70-120 ms to parse and ~40-190 ms to pack on a desktop
 * that is decoding the slide's first tiles at the same time). No zod here: the viewer's worker
 * imports this file.
 */

type Pt = readonly [number, number];

/** The outline of one annotation, in level-0 image pixels. */
export type ShapeGeometry =
  | { type: 'area'; rings: Pt[][] }
  | { type: 'line'; points: Pt[] }
  | { type: 'ellipse'; cx: number; cy: number; rx: number; ry: number }
  | { type: 'points'; points: Pt[]; radius: number };

/** What one annotation is on a canvas: its outline, colour and (unsaved ones) dashes. */
export type CanvasShape =
  | { type: 'area'; rings: Pt[][]; colour: string; dashed: boolean }
  | { type: 'line'; points: Pt[]; colour: string; dashed: boolean }
  | { type: 'ellipse'; cx: number; cy: number; rx: number; ry: number; colour: string; dashed: boolean }
  | { type: 'points'; points: Pt[]; radius: number; colour: string };

/** Point markers' radius on screen (as the SVG layer draws them). */
export const POINT_R = 5;
export const MULTIPOINT_R = 4;

/** The bounding box of a geometry: its outer ring, or every part's outer ring (holes lie inside). */
export function geometryRect(g: Geometry): { minX: number; minY: number; maxX: number; maxY: number } {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  // Indexed, not destructured: run once over every shape when thousands arrive, before the code is hot.
  const add = (ring: readonly (readonly [number, number])[]) => {
    for (let i = 0; i < ring.length; i++) {
      const p = ring[i]!;
      const x = p[0];
      const y = p[1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  };
  add(g.points);
  for (const p of g.parts ?? []) add(p.points);
  if (minX > maxX) return { minX: 0, minY: 0, maxX: 0, maxY: 0 };
  return { minX, minY, maxX, maxY };
}

const ringsOf = (g: { points: [number, number][]; holes?: [number, number][][] }): Pt[][] => [
  g.points,
  ...(g.holes ?? []),
];

/** The outline a canvas draws for an annotation of `kind`; null for one without points. */
export function shapeGeometry(kind: AnnotationKind, g: Geometry): ShapeGeometry | null {
  const first = g.points[0];
  if (!first) return null;
  switch (kind) {
    case 'point':
      return { type: 'points', points: [first], radius: POINT_R };
    case 'multipoint':
      return { type: 'points', points: g.points, radius: MULTIPOINT_R };
    case 'line':
      return { type: 'line', points: [first, g.points[1] ?? first] };
    case 'polyline':
      return { type: 'line', points: g.points };
    case 'rectangle': {
      const r = geometryRect(g);
      return {
        type: 'area',
        rings: [
          [
            [r.minX, r.minY],
            [r.maxX, r.minY],
            [r.maxX, r.maxY],
            [r.minX, r.maxY],
          ],
        ],
      };
    }
    case 'ellipse': {
      const r = geometryRect(g);
      return {
        type: 'ellipse',
        cx: (r.minX + r.maxX) / 2,
        cy: (r.minY + r.maxY) / 2,
        rx: (r.maxX - r.minX) / 2,
        ry: (r.maxY - r.minY) / 2,
      };
    }
    case 'multipolygon':
      return { type: 'area', rings: (g.parts ?? [{ points: g.points }]).flatMap(ringsOf) };
    case 'polygon':
    case 'freehand':
      return { type: 'area', rings: ringsOf(g) };
  }
}

/**
 * Shapes packed into one buffer, to be handed to a worker without copying (a structured clone of
 * 5,000 shapes' point arrays is ~100,000 small arrays). Per shape, from `offsets[i]` in `data`:
 * kind (0 area, 1 line, 2 ellipse, 3 points, -1 none), colour index, dashed (0/1), then for an
 * area its ring count and each ring's length and x,y pairs; a line its length and pairs; an
 * ellipse cx, cy, rx, ry; points their radius, length and pairs.
 */
export interface PackedShapes {
  data: Float64Array;
  offsets: Int32Array;
  colours: string[];
}

export const AREA = 0;
export const LINE = 1;
export const ELLIPSE = 2;
export const POINTS = 3;
export const NONE = -1;

export function packShapes(shapes: readonly (CanvasShape | null)[]): PackedShapes {
  let size = 0;
  for (const s of shapes) {
    size += 3;
    if (!s) continue;
    if (s.type === 'area') size += 1 + s.rings.reduce((n, r) => n + 1 + 2 * r.length, 0);
    else if (s.type === 'line') size += 1 + 2 * s.points.length;
    else if (s.type === 'ellipse') size += 4;
    else size += 2 + 2 * s.points.length;
  }
  const data = new Float64Array(size);
  const offsets = new Int32Array(shapes.length);
  const colours: string[] = [];
  const colourIndex = new Map<string, number>();
  let o = 0;
  const pairs = (pts: readonly Pt[]): void => {
    data[o++] = pts.length;
    for (let k = 0; k < pts.length; k++) {
      const p = pts[k]!;
      data[o++] = p[0];
      data[o++] = p[1];
    }
  };
  shapes.forEach((s, i) => {
    offsets[i] = o;
    if (!s) {
      data[o++] = NONE;
      o += 2;
      return;
    }
    let c = colourIndex.get(s.colour);
    if (c === undefined) {
      c = colours.push(s.colour) - 1;
      colourIndex.set(s.colour, c);
    }
    data[o++] = s.type === 'area' ? AREA : s.type === 'line' ? LINE : s.type === 'ellipse' ? ELLIPSE : POINTS;
    data[o++] = c;
    data[o++] = s.type !== 'points' && s.dashed ? 1 : 0;
    if (s.type === 'area') {
      data[o++] = s.rings.length;
      for (const r of s.rings) pairs(r);
    } else if (s.type === 'line') pairs(s.points);
    else if (s.type === 'ellipse') {
      data[o++] = s.cx;
      data[o++] = s.cy;
      data[o++] = s.rx;
      data[o++] = s.ry;
    } else {
      data[o++] = s.radius;
      pairs(s.points);
    }
  });
  return { data, offsets, colours };
}

/**
 * What decides an annotation's colour, as sent: its own colour, its class's name and its class's
 * stored colour (the viewer maps them through today's palette).
 */
export type ShapeStyle = [color: string | null, className: string | null, classColor: string | null];

/** Media type of the packed form. */
export const SHAPES_MEDIA_TYPE = 'application/vnd.tessera.annotation-shapes';
const MAGIC = 0x31485354; // "TSH1", little-endian

interface ShapesHeader {
  seq: number;
  count: number;
  styles: ShapeStyle[];
  ids: string[];
  /** [index, text] of the annotations that have a label. */
  labels: [number, string][];
}

const pad8 = (n: number): number => (n + 7) & ~7;

/**
 * A slide's annotations packed for drawing: "TSH1", the header's length (u32 little-endian), the
 * header as JSON (seq, count, styles, ids, labels), then, each from an offset that is a multiple
 * of 8, the shapes' offsets (int32) and data (float64) as in `PackedShapes`, whose colour index is
 * an index into `styles`.
 */
export function encodeShapes(
  list: readonly Pick<AnnotationDto, 'id' | 'kind' | 'geometry' | 'classification' | 'color' | 'label'>[],
  seq: number,
): Uint8Array<ArrayBuffer> {
  const made = list.map((a) => {
    const g = shapeGeometry(a.kind, a.geometry);
    if (!g) return null;
    const style: ShapeStyle = [
      a.color ?? null,
      a.classification?.name ?? null,
      a.classification?.color ?? null,
    ];
    return { ...g, colour: JSON.stringify(style), dashed: false } as CanvasShape;
  });
  const packed = packShapes(made);
  const header: ShapesHeader = {
    seq,
    count: list.length,
    styles: packed.colours.map((c) => JSON.parse(c) as ShapeStyle),
    ids: list.map((a) => a.id),
    labels: list.flatMap((a, i): [number, string][] => (a.label ? [[i, a.label]] : [])),
  };
  const head = new TextEncoder().encode(JSON.stringify(header));
  const offsetsAt = pad8(8 + head.length);
  const dataAt = pad8(offsetsAt + 4 * packed.offsets.length);
  const out = new Uint8Array(dataAt + 8 * packed.data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, head.length, true);
  out.set(head, 8);
  out.set(new Uint8Array(packed.offsets.buffer), offsetsAt);
  out.set(new Uint8Array(packed.data.buffer), dataAt);
  return out;
}

export interface DecodedShapes {
  seq: number;
  ids: string[];
  packed: PackedShapes;
  /** Each shape's colour ('' for none), as `packed.colours` gives it. */
  colours: string[];
  /** Each shape's box (minX, minY, maxX, maxY), in image pixels. */
  boxes: Float64Array;
  labels: ({ text: string; x: number; y: number } | null)[];
}

/** Thrown for bytes that are not the packed form (the caller then reads the JSON list). */
export class ShapesFormatError extends Error {}

/** The packed form read back; `colourOf` gives a style its colour today. */
export function decodeShapes(buf: ArrayBuffer, colourOf: (style: ShapeStyle) => string): DecodedShapes {
  if (buf.byteLength < 8) throw new ShapesFormatError('too short');
  const view = new DataView(buf);
  if (view.getUint32(0, true) !== MAGIC) throw new ShapesFormatError('not annotation shapes');
  const len = view.getUint32(4, true);
  if (8 + len > buf.byteLength) throw new ShapesFormatError('header cut short');
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, len))) as ShapesHeader;
  const n = header.count;
  const offsetsAt = pad8(8 + len);
  const dataAt = pad8(offsetsAt + 4 * n);
  if (
    !Number.isInteger(n) ||
    n < 0 ||
    header.ids.length !== n ||
    dataAt > buf.byteLength ||
    (buf.byteLength - dataAt) % 8
  )
    throw new ShapesFormatError('sizes do not add up');
  const offsets = new Int32Array(buf, offsetsAt, n);
  const data = new Float64Array(buf, dataAt, (buf.byteLength - dataAt) / 8);
  const colours = header.styles.map(colourOf);
  const each: string[] = new Array(n);
  const boxes = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    let o = offsets[i]!;
    if (o < 0 || o + 3 > data.length) throw new ShapesFormatError(`shape ${i} outside the data`);
    const kind = data[o]!;
    each[i] = kind === NONE ? '' : (colours[data[o + 1]!] ?? '');
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const run = (from: number): number => {
      const m = data[from]!;
      const end = from + 1 + 2 * m;
      for (let q = from + 1; q < end; q += 2) {
        const x = data[q]!;
        const y = data[q + 1]!;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
      return end;
    };
    o += 3;
    if (kind === AREA) {
      const rings = data[o++]!;
      for (let r = 0; r < rings; r++) o = run(o);
    } else if (kind === LINE) run(o);
    else if (kind === ELLIPSE) {
      const [cx, cy, rx, ry] = [data[o]!, data[o + 1]!, data[o + 2]!, data[o + 3]!];
      [minX, minY, maxX, maxY] = [cx - rx, cy - ry, cx + rx, cy + ry];
    } else if (kind === POINTS) run(o + 1);
    if (minX > maxX) [minX, minY, maxX, maxY] = [0, 0, 0, 0];
    boxes[4 * i] = minX;
    boxes[4 * i + 1] = minY;
    boxes[4 * i + 2] = maxX;
    boxes[4 * i + 3] = maxY;
  }
  const labels: DecodedShapes['labels'] = new Array(n).fill(null);
  for (const [i, text] of header.labels)
    if (i >= 0 && i < n) labels[i] = { text, x: boxes[4 * i]!, y: boxes[4 * i + 1]! };
  return {
    seq: header.seq,
    ids: header.ids,
    packed: { data, offsets, colours },
    colours: each,
    boxes,
    labels,
  };
}
