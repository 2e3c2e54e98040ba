/**
 * QuPath GeoJSON both ways, loss-free: hand-written exports in QuPath's forms (tests/fixtures/qupath/,
 * described in its README) imported into a real server keep holes, several polygons or points in one,
 * lines, ellipses, unclassified objects, locks, own colours, detections, cells with their nucleus and
 * measurements; import → export → import gives the same annotations; a bad feature is left out and
 * named while the rest is stored; the export is structurally valid GeoJSON in the form QuPath reads,
 * also while a session is open on the slide. The mapping itself is checked without a server too.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type {
  AnnotationDto,
  GeoJsonFeatureCollection,
  Geometry,
  ReviewSessionDto,
} from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import {
  GEOJSON_IMPORT_LIMITS,
  fromFeatureCollection,
  parseGeoJsonText,
  toFeature,
  toFeatureCollection,
} from '../server/review/geojson.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'qupath');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const ANNOTATIONS_04 = 'annotations-0.4.geojson';
const DETECTIONS_05 = 'detections-0.5.geojson';
const LEGACY = 'legacy-0.2-0.3.geojson';
const TEN_THREE_BAD = 'ten-with-three-bad.geojson';

type Pt = [number, number];

/** Shoelace area of a ring (open or closed); positive when counterclockwise with y up. */
function signedArea(ring: Pt[]): number {
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x0, y0] = ring[i]!;
    const [x1, y1] = ring[(i + 1) % ring.length]!;
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

/** Area of a stored polygon or multipolygon: each part's outer ring less its holes. */
function areaOf(g: Geometry): number {
  const parts = g.parts ?? [g];
  return parts.reduce(
    (sum, p) =>
      sum +
      Math.abs(signedArea(p.points as Pt[])) -
      (p.holes ?? []).reduce((h, ring) => h + Math.abs(signedArea(ring as Pt[])), 0),
    0,
  );
}

interface Report {
  imported: number;
  ids: string[];
  errors: { index: number; reason: string }[];
  code?: string;
}

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<string, string> = {};
const sockets: ReviewSocket[] = [];
/** QuPath's files go here; the round trip's copy goes to COPY. */
const SLIDE = 'a1'.repeat(16);
const COPY = 'b2'.repeat(16);
const BAD = 'c3'.repeat(16);
const LIVE = 'd4'.repeat(16);

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-qupath-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tokens['host'] = (
    await userWithToken(ctx.db, { name: 'host', role: 'pathologist', siteId: 'north' })
  ).token;
  for (const id of [SLIDE, COPY, BAD, LIVE])
    await slideRow(ctx.db, { id, name: `slide ${id}`, siteId: 'north', width: 60000, height: 45000 });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await ctx.review.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const api = userFetch(() => base, tokens, 'application/geo+json');

const importInto = (slide: string, body: string): Promise<Response> =>
  api('host', `/api/slides/${slide}/annotations?format=geojson`, { method: 'POST', body });

async function listOf(slide: string): Promise<AnnotationDto[]> {
  const res = await api('host', `/api/slides/${slide}/annotations`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { annotations: AnnotationDto[] }).annotations;
}

async function exportOf(slide: string): Promise<GeoJsonFeatureCollection> {
  const res = await api('host', `/api/slides/${slide}/annotations?format=geojson`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/geo\+json/);
  return (await res.json()) as GeoJsonFeatureCollection;
}

/** Annotations of one import, found by the first point of their geometry. */
const at = (list: AnnotationDto[], x: number, y: number): AnnotationDto => {
  const found = list.find((a) => a.geometry.points[0]![0] === x && a.geometry.points[0]![1] === y);
  expect(found, `an annotation starting at [${x}, ${y}]`).toBeDefined();
  return found!;
};

describe('QuPath exports into Tessera', () => {
  it('a QuPath 0.4 export (an array of features) keeps holes, parts, points, lines, the ellipse, unclassified, locked and coloured objects', async () => {
    const res = await importInto(SLIDE, fixture(ANNOTATIONS_04));
    expect(res.status).toBe(201);
    const report = (await res.json()) as Report;
    expect(report).toMatchObject({ imported: 10, errors: [] });
    const list = await listOf(SLIDE);
    const byLabel = new Map(list.map((a) => [a.label, a]));

    const lumen = byLabel.get('tumour with lumen')!;
    expect(lumen.kind).toBe('polygon');
    expect(lumen.geometry.holes).toHaveLength(1);
    // 600 x 600 less a 200 x 200 hole (360,000 when the hole was dropped).
    expect(areaOf(lumen.geometry)).toBe(320_000);
    expect(lumen.classification).toEqual({ name: 'Tumor', color: '#c80000' });

    const islands = byLabel.get('two islands')!;
    expect(islands.kind).toBe('multipolygon');
    expect(islands.geometry.parts).toHaveLength(2);
    expect(islands.geometry.parts!.map((p) => p.holes?.length)).toEqual([1, 1]);
    expect(areaOf({ ...islands.geometry, parts: [islands.geometry.parts![0]!] })).toBe(320_000);
    expect(areaOf(islands.geometry)).toBe(320_000 + 80_000);

    const points = byLabel.get('lymphocytes')!;
    expect(points.kind).toBe('multipoint');
    expect(points.geometry.points).toEqual([
      [500.5, 700.25],
      [520, 710],
      [540.75, 730],
    ]);
    expect(points.classification).toEqual({ name: 'Immune cells', color: '#a05aa0' });

    expect(byLabel.get('mitosis?')).toMatchObject({ kind: 'point', classification: null });
    expect(byLabel.get('margin distance')).toMatchObject({ kind: 'line', classification: null });
    expect(byLabel.get('invasive front')!.kind).toBe('polyline');
    expect(byLabel.get('invasive front')!.geometry.points).toHaveLength(5);
    // No classification in the file: unclassified, never "Other".
    expect(byLabel.get('')).toMatchObject({ kind: 'polygon', classification: null });
    expect(list.filter((a) => a.classification === null)).toHaveLength(4);

    expect(byLabel.get('ROI locked')).toMatchObject({
      kind: 'polygon',
      locked: true,
      color: '#0080ff',
      classification: { name: 'Necrosis', color: '#323232' },
    });
    // QuPath's isEllipse: kept an ellipse, by its bounding box.
    expect(byLabel.get('gland')).toMatchObject({
      kind: 'ellipse',
      geometry: {
        points: [
          [4900, 4950],
          [5100, 5050],
        ],
      },
    });
    expect(byLabel.get('measured region')!.measurements).toEqual({
      'Area µm^2': 50000,
      'Perimeter µm': 900,
      'Num Detections': 7,
    });
    expect(list.every((a) => (a.objectType ?? 'annotation') === 'annotation')).toBe(true);
    expect(list.filter((a) => a.locked)).toHaveLength(1);
  });

  it('QuPath 0.5 detections and cells (a FeatureCollection): object types, nucleus geometry, derived classes, measurements with a NaN', async () => {
    const before = (await listOf(SLIDE)).length;
    const res = await importInto(SLIDE, fixture(DETECTIONS_05));
    expect(res.status).toBe(201);
    expect((await res.json()) as Report).toMatchObject({ imported: 7, errors: [] });
    const list = (await listOf(SLIDE)).slice(before);
    expect(list).toHaveLength(7);

    const positive = at(list, 10000, 10000);
    expect(positive).toMatchObject({
      objectType: 'detection',
      classification: { name: 'Tumor: Positive', color: '#c80000' },
    });
    // The NaN QuPath writes for a measurement without a value is left out; the others kept exactly.
    expect(positive.measurements).toEqual({ 'Nucleus: Area': 35.5, 'DAB: Mean': 0.42 });

    const cell = at(list, 10100, 10090);
    expect(cell).toMatchObject({ objectType: 'cell', classification: { name: 'Tumor' } });
    expect(cell.geometry.points).toHaveLength(8);
    expect(cell.nucleus!.points).toHaveLength(4);
    expect(areaOf(cell.nucleus!)).toBe(64);
    expect(cell.measurements).toEqual({
      'Nucleus: Area µm^2': 16,
      'Cell: Area µm^2': 524,
      'Nucleus/Cell area ratio': 0.0305,
    });
    expect(at(list, 10200, 10200)).toMatchObject({ objectType: 'cell', classification: null });
    expect(areaOf(at(list, 10200, 10200).nucleus!)).toBe(100);
    const bare = at(list, 10300, 10300);
    expect(bare.objectType).toBe('cell');
    expect(bare.nucleus ?? null).toBeNull();
    // A tile is a detection in QuPath's class hierarchy.
    expect(at(list, 11000, 11000)).toMatchObject({
      objectType: 'detection',
      measurements: { 'Tissue fraction': 0.875 },
    });
    // [r, g, b, a]: the alpha is not kept (classes are #rrggbb).
    expect(at(list, 10400, 10400).classification).toEqual({
      name: 'Immune cells: Negative',
      color: '#a05aa0',
    });
    expect(at(list, 9900, 9900)).toMatchObject({
      objectType: 'annotation',
      label: 'analysis region',
      color: '#ffff00',
      classification: null,
    });
  });

  it('QuPath 0.2 and 0.3 forms: object_type, the type in id, colorRGB, measurements as a list, an empty class', async () => {
    const before = (await listOf(SLIDE)).length;
    const res = await importInto(SLIDE, fixture(LEGACY));
    expect(res.status).toBe(201);
    const list = (await listOf(SLIDE)).slice(before);
    expect(at(list, 100, 100)).toMatchObject({
      label: 'written by 0.3',
      objectType: 'annotation',
      classification: { name: 'Tumor', color: '#c80000' },
      measurements: { 'Area px^2': 30000 },
    });
    expect(at(list, 400, 400)).toMatchObject({
      objectType: 'detection',
      classification: { name: 'Stroma', color: '#96c896' },
      measurements: { 'Nucleus: Area': 42.5 },
    });
    expect(at(list, 700, 800)).toMatchObject({ kind: 'point', classification: null, locked: true });
  });

  it('import → export → import gives the same annotations, ids aside', async () => {
    const first = await listOf(SLIDE);
    expect(first).toHaveLength(20);
    const exported = await exportOf(SLIDE);
    const res = await importInto(COPY, JSON.stringify(exported));
    expect(res.status).toBe(201);
    expect(((await res.json()) as Report).imported).toBe(20);
    const second = await listOf(COPY);
    const same = (list: AnnotationDto[]) =>
      list
        .map(({ id: _id, slideId: _s, createdAt: _c, updatedAt: _u, ...rest }) => JSON.stringify(rest))
        .sort();
    expect(same(second)).toEqual(same(first));
    // And the second export is the first, ids and times aside.
    const again = await exportOf(COPY);
    const features = (fc: GeoJsonFeatureCollection) =>
      fc.features
        .map(({ id: _id, properties: { tessera, ...props }, ...rest }) =>
          JSON.stringify({ ...rest, props, kind: tessera.kind }),
        )
        .sort();
    expect(features(again)).toEqual(features(exported));
  });

  it('a file with 3 bad features among 10 stores the 7 good ones and names the 3 with their reasons', async () => {
    const res = await importInto(BAD, fixture(TEN_THREE_BAD));
    expect(res.status).toBe(200);
    const report = (await res.json()) as Report;
    expect(report.imported).toBe(7);
    expect(report.ids).toHaveLength(7);
    expect(report.errors.map((e) => e.index)).toEqual([3, 5, 7]);
    expect(report.errors[0]!.reason).toMatch(/^features\[3\]: polygon ring has 2 points/);
    expect(report.errors[1]!.reason).toMatch(
      /^features\[5\]: coordinate \[20000000, 5\] is outside ±10000000/,
    );
    expect(report.errors[2]!.reason).toMatch(/^features\[7\]: unsupported geometry GeometryCollection/);
    expect((await listOf(BAD)).map((a) => a.label).sort()).toEqual(
      ['good 0', 'good 1', 'good 2', 'good 4', 'good 6', 'good 8', 'good 9'].sort(),
    );

    // Nothing good at all: 400 with the same report, nothing stored.
    const none = await importInto(
      BAD,
      JSON.stringify({
        type: 'FeatureCollection',
        features: [
          { type: 'Feature', geometry: { type: 'MultiLineString', coordinates: [] }, properties: {} },
        ],
      }),
    );
    expect(none.status).toBe(400);
    const refused = (await none.json()) as Report & { message: string };
    expect(refused).toMatchObject({ code: 'INVALID_PARAMETER', imported: 0, ids: [] });
    expect(refused.errors[0]!.reason).toMatch(/^features\[0\]: unsupported geometry MultiLineString/);
    expect(refused.message).toMatch(/unsupported geometry MultiLineString/);
    expect(await listOf(BAD)).toHaveLength(7);
  });
});

/** Structural checks of RFC 7946 (types, positions, ring closure and orientation); returns the problems. */
function geometryProblems(g: unknown, where: string): string[] {
  const out: string[] = [];
  const isPosition = (p: unknown): p is Pt =>
    Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isFinite(v));
  const positions = (v: unknown, min: number, what: string): v is Pt[] => {
    if (!Array.isArray(v) || v.length < min || !v.every(isPosition)) {
      out.push(`${where}: ${what} is not a list of at least ${min} positions`);
      return false;
    }
    return true;
  };
  const polygon = (rings: unknown, what: string): void => {
    if (!Array.isArray(rings) || rings.length === 0) {
      out.push(`${where}: ${what} has no rings`);
      return;
    }
    rings.forEach((r: unknown, k) => {
      if (!positions(r, 4, `${what} ring ${k}`)) return;
      const first = r[0]!;
      const last = r.at(-1)!;
      if (first[0] !== last[0] || first[1] !== last[1]) out.push(`${where}: ${what} ring ${k} is not closed`);
      // Right-hand rule: outer rings counterclockwise, holes clockwise.
      if (k === 0 ? signedArea(r) <= 0 : signedArea(r) >= 0)
        out.push(`${where}: ${what} ring ${k} breaks the right-hand rule`);
    });
  };
  const geometry = g as { type?: unknown; coordinates?: unknown };
  switch (geometry?.type) {
    case 'Point':
      if (!isPosition(geometry.coordinates)) out.push(`${where}: Point without a position`);
      break;
    case 'MultiPoint':
      positions(geometry.coordinates, 1, 'MultiPoint');
      break;
    case 'LineString':
      positions(geometry.coordinates, 2, 'LineString');
      break;
    case 'Polygon':
      polygon(geometry.coordinates, 'Polygon');
      break;
    case 'MultiPolygon':
      if (!Array.isArray(geometry.coordinates) || geometry.coordinates.length === 0)
        out.push(`${where}: MultiPolygon without polygons`);
      else geometry.coordinates.forEach((p: unknown, k) => polygon(p, `MultiPolygon polygon ${k}`));
      break;
    default:
      out.push(`${where}: geometry type ${String(geometry?.type)}`);
  }
  return out;
}

const isRgb = (c: unknown): boolean =>
  Array.isArray(c) && c.length === 3 && c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255);

describe('Tessera annotations out to QuPath', () => {
  it('the export is a structurally valid GeoJSON FeatureCollection (RFC 7946) in the form QuPath reads', async () => {
    const fc = (await exportOf(SLIDE)) as unknown as { type: unknown; features: Record<string, unknown>[] };
    expect(fc.type).toBe('FeatureCollection');
    expect(Array.isArray(fc.features)).toBe(true);
    expect(fc.features).toHaveLength(20);
    const problems: string[] = [];
    for (const [i, f] of fc.features.entries()) {
      const where = `features[${i}]`;
      const props = f.properties as Record<string, unknown>;
      if (f.type !== 'Feature') problems.push(`${where}: type ${String(f.type)}`);
      if (typeof f.id !== 'string') problems.push(`${where}: id is not a string`);
      if (typeof props !== 'object' || props === null) problems.push(`${where}: no properties object`);
      problems.push(...geometryProblems(f.geometry, where));
      // QuPath's forms (PathObjectTypeAdapters): what it reads back as the same object.
      if (!['annotation', 'detection', 'cell'].includes(props.objectType as string))
        problems.push(`${where}: objectType ${String(props.objectType)}`);
      const cls = props.classification as { name?: unknown; names?: unknown; color?: unknown } | undefined;
      if (
        cls !== undefined &&
        (!(typeof cls.name === 'string' || Array.isArray(cls.names)) || !isRgb(cls.color))
      )
        problems.push(`${where}: classification ${JSON.stringify(cls)}`);
      if (props.color !== undefined && !isRgb(props.color)) problems.push(`${where}: color`);
      if (props.isLocked !== undefined && props.isLocked !== true) problems.push(`${where}: isLocked`);
      if (
        props.measurements !== undefined &&
        !Object.values(props.measurements as object).every((v) => typeof v === 'number' && Number.isFinite(v))
      )
        problems.push(`${where}: measurements`);
      if (f.nucleusGeometry !== undefined) {
        if (props.objectType !== 'cell')
          problems.push(`${where}: a nucleus on a ${String(props.objectType)}`);
        problems.push(...geometryProblems(f.nucleusGeometry, `${where}.nucleusGeometry`));
      }
    }
    expect(problems).toEqual([]);
    const list = await listOf(SLIDE);
    const all = fc.features as unknown as GeoJsonFeatureCollection['features'];
    // Unclassified objects are written without a classification, never as "Other".
    expect(all.filter((f) => !f.properties.classification)).toHaveLength(
      list.filter((a) => a.classification === null).length,
    );
    expect(
      all.filter((f) => f.properties.classification && 'names' in f.properties.classification),
    ).toHaveLength(2);
    expect(all.filter((f) => f.nucleusGeometry)).toHaveLength(2);
    expect(all.filter((f) => f.properties.isLocked)).toHaveLength(2);
    const kinds = (type: string) => all.filter((f) => f.geometry.type === type).length;
    expect([kinds('Point'), kinds('MultiPoint'), kinds('LineString'), kinds('MultiPolygon')]).toEqual([
      2, 1, 2, 1,
    ]);
    const lumen = all.find((f) => f.properties.name === 'tumour with lumen')!;
    expect(lumen.geometry).toMatchObject({ type: 'Polygon' });
    expect(lumen.geometry.coordinates).toHaveLength(2);
    expect(all.find((f) => f.properties.name === 'gland')!.geometry).toMatchObject({
      type: 'Polygon',
      isEllipse: true,
    });
  });

  it('works while a session is open on the slide, and carries what the session just drew', async () => {
    const created = await api('host', '/api/sessions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slideId: LIVE, title: 'export during a session' }),
    });
    expect(created.status).toBe(201);
    const session = (await created.json()) as ReviewSessionDto;
    const socket = io(base, {
      transports: ['websocket'],
      auth: { token: tokens['host'] },
      forceNew: true,
    }) as ReviewSocket;
    sockets.push(socket);
    const room = new ReviewSession(socket, session.id);
    expect((await room.ready()).ok).toBe(true);
    const id = randomUUID();
    const drawn = await room.submit({
      type: 'create',
      opId: randomUUID(),
      annotation: {
        id,
        kind: 'polygon',
        geometry: {
          points: [
            [0, 0],
            [600, 0],
            [600, 600],
            [0, 600],
          ],
          holes: [
            [
              [200, 200],
              [200, 400],
              [400, 400],
              [400, 200],
            ],
          ],
        },
        classification: null,
        label: 'drawn live',
      },
    });
    expect(drawn.ok).toBe(true);
    const fc = await exportOf(LIVE);
    const f = fc.features.find((x) => x.id === id)!;
    expect(f.properties).toMatchObject({ objectType: 'annotation', name: 'drawn live' });
    expect(f.properties.classification).toBeUndefined();
    expect(geometryProblems(f.geometry, 'drawn')).toEqual([]);
    expect(f.geometry).toEqual({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [600, 0],
          [600, 600],
          [0, 600],
          [0, 0],
        ],
        [
          [200, 200],
          [200, 400],
          [400, 400],
          [400, 200],
          [200, 200],
        ],
      ],
    });
  });
});

describe('the mapping, without a server', () => {
  /** What an import stores, as the annotation service makes it from a create operation. */
  const stored = (body: unknown): AnnotationDto[] =>
    fromFeatureCollection(body).ops.map((op) => ({
      slideId: 's',
      authorId: 'u',
      authorName: 'U',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      version: 1,
      comments: [],
      ...op.annotation,
    }));
  const withoutIds = (list: AnnotationDto[]) => list.map(({ id: _id, ...rest }) => rest);

  it('import → export → import of every fixture gives the same annotations, ids aside', () => {
    for (const name of [ANNOTATIONS_04, DETECTIONS_05, LEGACY, TEN_THREE_BAD]) {
      const first = stored(parseGeoJsonText(fixture(name)));
      const again = stored(JSON.parse(JSON.stringify(toFeatureCollection(first))));
      expect(withoutIds(again), name).toEqual(withoutIds(first));
    }
  });

  it('maps every QuPath property to its field', () => {
    const list = stored(parseGeoJsonText(fixture(ANNOTATIONS_04)));
    const locked = list.find((a) => a.label === 'ROI locked')!;
    expect(locked).toMatchObject({ locked: true, color: '#0080ff', objectType: 'annotation' });
    expect(list.find((a) => a.label === 'measured region')!.measurements).toEqual({
      'Area µm^2': 50000,
      'Perimeter µm': 900,
      'Num Detections': 7,
    });
    const cells = stored(parseGeoJsonText(fixture(DETECTIONS_05))).filter((a) => a.objectType === 'cell');
    expect(cells.map((a) => Boolean(a.nucleus))).toEqual([true, true, false]);
    expect(areaOf(cells[0]!.nucleus!)).toBe(64);
  });

  it('writes what QuPath writes: no classification when unclassified, names for a derived class, isLocked only when locked, the nucleus beside the geometry', () => {
    const base: AnnotationDto = {
      id: randomUUID(),
      slideId: 's',
      kind: 'polygon',
      geometry: {
        points: [
          [0, 0],
          [0, 10],
          [10, 10],
          [10, 0],
        ],
      },
      classification: null,
      label: '',
      authorId: 'u',
      authorName: 'U',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      version: 1,
      comments: [],
    };
    const plain = toFeature(base);
    expect(Object.keys(plain.properties).sort()).toEqual(['objectType', 'tessera']);
    // Drawn clockwise (y up): written counterclockwise, first point kept.
    expect(plain.geometry.coordinates).toEqual([
      [
        [0, 0],
        [10, 0],
        [10, 10],
        [0, 10],
        [0, 0],
      ],
    ]);
    const cell = toFeature({
      ...base,
      objectType: 'cell',
      classification: { name: 'Tumor: Positive', color: '#c80000' },
      locked: true,
      color: '#0080ff',
      nucleus: {
        points: [
          [2, 2],
          [8, 2],
          [8, 8],
        ],
      },
      measurements: { 'Nucleus: Area': 18 },
    });
    expect(cell.properties).toMatchObject({
      objectType: 'cell',
      classification: { names: ['Tumor', 'Positive'], color: [200, 0, 0] },
      isLocked: true,
      color: [0, 128, 255],
      measurements: { 'Nucleus: Area': 18 },
    });
    expect(cell.nucleusGeometry).toEqual({
      type: 'Polygon',
      coordinates: [
        [
          [2, 2],
          [8, 2],
          [8, 8],
          [2, 2],
        ],
      ],
    });
    expect(toFeature({ ...base, locked: false }).properties.isLocked).toBeUndefined();
    // A nucleus on anything but a cell is not written (QuPath reads it only for cells).
    expect(toFeature({ ...base, nucleus: base.geometry }).nucleusGeometry).toBeUndefined();
  });

  it("reads QuPath's bare NaN (and ±Infinity) as null outside strings only", () => {
    expect(parseGeoJsonText('{"a": NaN, "b": [-Infinity, Infinity], "c": "NaN and \\"Infinity\\""}')).toEqual(
      {
        a: null,
        b: [null, null],
        c: 'NaN and "Infinity"',
      },
    );
    expect(() => parseGeoJsonText('{"a": nope}')).toThrow(SyntaxError);
  });

  it('lists the first bad features and counts the rest', () => {
    const features = Array.from({ length: 1005 }, () => ({
      type: 'Feature',
      geometry: { type: 'MultiLineString', coordinates: [] },
    }));
    const { ops, errors, refused } = fromFeatureCollection(features, {
      ...GEOJSON_IMPORT_LIMITS,
      listedErrors: 3,
    });
    expect(ops).toHaveLength(0);
    expect(refused).toBe(1005);
    expect(errors.map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect(errors[3]!.reason).toBe('1002 more bad features (not listed)');
  });

  it('names the reason of each kind of bad feature', () => {
    const reasons = fromFeatureCollection([
      { type: 'Feature', geometry: { type: 'LineString', coordinates: [[1, 1]] } },
      {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [1, 1] },
        properties: { objectType: 'tmaCore' },
      },
      { type: 'Feature', geometry: { type: 'Point', coordinates: [1, 1] }, properties: { color: 'red' } },
      { type: 'Feature', geometry: null },
      {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [1, 1] },
        properties: { name: 'x'.repeat(501) },
      },
      {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [1, 1] },
        properties: { classification: { name: 'y'.repeat(65) } },
      },
      {
        type: 'Feature',
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [4, 0],
              [4, 4],
              [0, 0],
            ],
          ],
        },
        nucleusGeometry: { type: 'Point', coordinates: [1, 1] },
        properties: { objectType: 'cell' },
      },
      {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [1, 1] },
        properties: { measurements: { Area: 'large' } },
      },
    ]).errors.map((e) => e.reason);
    expect(reasons).toEqual([
      'features[0]: LineString has 1 point (at least 2)',
      'features[1]: objectType tmaCore is not supported (annotation, detection, tile, cell)',
      'features[2]: color red is not [r, g, b] (0-255) nor a packed RGB integer',
      'features[3]: no geometry',
      'features[4]: name is 501 characters (at most 500)',
      'features[5]: classification name is 65 characters (at most 64)',
      'features[6]: unsupported nucleusGeometry Point (supported: Polygon, MultiPolygon)',
      'features[7]: measurement "Area" is not a number',
    ]);
  });
});
