/**
 * Bulk imports against a real server: a 10,000-feature GeoJSON import is stored whole, one seq per
 * feature in order, and reaches a live session; imports over their documented limits are refused
 * with their codes; a feature too big to walk or with coordinates out of range is left out and
 * reported while the rest is stored; case CSV fields over their lengths and files over the row limit
 * likewise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type { AppliedOp, ReviewSessionDto } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { GEOJSON_IMPORT_LIMITS } from '../server/review/geojson.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<string, string> = {};
const SLIDE = 'c'.repeat(32);
const sockets: ReviewSocket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-imports-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [name, role] of [
    ['host', 'pathologist'],
    ['manager', 'lab_manager'],
  ] as const)
    tokens[name] = (await userWithToken(ctx.db, { name, role, siteId: 'north' })).token;
  await slideRow(ctx.db, { id: SLIDE, name: 'import target', siteId: 'north', width: 60000, height: 45000 });
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

/**
 * Building a large body blocks the event loop this test shares with the server: let the keep-alive
 * timers that came due meanwhile close their idle connections first, or the request may be written
 * to a connection the server is closing (ECONNRESET on a loaded machine).
 */
async function importGeoJson(body: string): Promise<Response> {
  await new Promise((r) => setTimeout(r, 100));
  return api('host', `/api/slides/${SLIDE}/annotations?format=geojson`, { method: 'POST', body });
}

/** `n` small polygons (cell outlines, as QuPath exports detections), each with `points` vertices. */
function cells(n: number, points = 12, at = (i: number): [number, number] => [100 + i * 5, 200 + i * 3]) {
  const features = [];
  for (let i = 0; i < n; i++) {
    const [cx, cy] = at(i);
    const ring: [number, number][] = [];
    for (let k = 0; k < points; k++) {
      const t = (2 * Math.PI * k) / points;
      ring.push([
        Math.round((cx + 8 * Math.cos(t)) * 100) / 100,
        Math.round((cy + 8 * Math.sin(t)) * 100) / 100,
      ]);
    }
    ring.push(ring[0]!);
    features.push({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: {
        objectType: 'annotation',
        classification: { name: 'Tumor', color: [200, 50, 50] },
        name: `cell ${i}`,
      },
    });
  }
  return { type: 'FeatureCollection', features };
}

const annotationCount = async (): Promise<number> =>
  Number(
    (
      await ctx.db
        .selectFrom('annotations')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('slide_id', '=', SLIDE)
        .executeTakeFirstOrThrow()
    ).n,
  );

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: body.code, message: body.message };
}

describe('GeoJSON import', () => {
  it('stores all 10,000 features of one import with consecutive seqs, and a live session receives every one', async () => {
    const created = await api('host', '/api/sessions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slideId: SLIDE, title: 'import watch' }),
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
    const heard: AppliedOp[] = [];
    socket.on('op', (op) => heard.push(op));

    const before = await ctx.review.annotations.seq({ slideId: SLIDE, siteId: 'north' });
    const res = await importGeoJson(JSON.stringify(cells(10_000)));
    expect(res.status).toBe(201);
    const body = (await res.json()) as { imported: number; ids: string[] };
    expect(body.imported).toBe(10_000);
    expect(new Set(body.ids).size).toBe(10_000);
    expect(await annotationCount()).toBe(10_000);

    const ops = await ctx.db
      .selectFrom('annotation_ops')
      .select(['seq', 'annotation_id', 'type', 'after'])
      .where('slide_id', '=', SLIDE)
      .where('seq', '>', before)
      .orderBy('seq')
      .execute();
    expect(ops).toHaveLength(10_000);
    // One seq each, with no gap, in the file's order (the ids answered are in that order too).
    expect(ops.map((o) => Number(o.seq))).toEqual(Array.from({ length: 10_000 }, (_, i) => before + 1 + i));
    expect(ops.map((o) => o.annotation_id)).toEqual(body.ids);
    expect(ops.every((o) => o.type === 'create' && o.after !== null)).toBe(true);
    expect(JSON.parse(ops[9_999]!.after!)).toMatchObject({ label: 'cell 9999', kind: 'polygon' });

    await expect.poll(() => heard.length, { timeout: 10_000 }).toBe(10_000);
    expect(heard.map((o) => o.seq)).toEqual(ops.map((o) => Number(o.seq)));
  });

  it('refuses an import over the documented limits with 413 IMPORT_TOO_LARGE, storing nothing', async () => {
    const n = await annotationCount();
    const tooMany = await errorOf(
      await importGeoJson(JSON.stringify(cells(GEOJSON_IMPORT_LIMITS.features + 1, 3))),
    );
    expect(tooMany).toMatchObject({ status: 413, code: 'IMPORT_TOO_LARGE' });
    expect(tooMany.message).toMatch(/at most 10000 features/);

    // 53 features of 19,000 points each: every geometry within its own limit, the import over its total.
    const heavy = cells(53, 19_000, (i) => [1000 + i * 100, 1000]);
    const tooManyPoints = await errorOf(await importGeoJson(JSON.stringify(heavy)));
    expect(tooManyPoints).toMatchObject({ status: 413, code: 'IMPORT_TOO_LARGE' });
    expect(tooManyPoints.message).toMatch(/at most 1000000 points/);

    const padded = JSON.stringify({ ...cells(1), pad: 'x'.repeat(GEOJSON_IMPORT_LIMITS.bodyBytes) });
    const tooBig = await errorOf(await importGeoJson(padded));
    expect(tooBig).toMatchObject({ status: 413, code: 'IMPORT_TOO_LARGE' });
    expect(tooBig.message).toMatch(/at most 20 MB/);
    expect(await annotationCount()).toBe(n);
  });

  interface Report {
    imported: number;
    ids: string[];
    errors: { index: number; reason: string }[];
    code?: string;
  }

  it('a geometry of 200,000 points or nested a million deep is left out and named, the rest stored, and the server carries on', async () => {
    const n = await annotationCount();
    const ring = Array.from({ length: 200_000 }, (_, i) => [i % 1000, Math.floor(i / 1000)]);
    // Declared a rectangle, so its bounding box is taken: once a 200,000-argument Math.min (stack overflow, 500).
    const rect = {
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: { tessera: { kind: 'rectangle' } },
    };
    const line = { type: 'Feature', geometry: { type: 'LineString', coordinates: ring }, properties: {} };
    for (const [i, f] of [rect, line].entries()) {
      const res = await importGeoJson(JSON.stringify([cells(1).features[0], f]));
      expect(res.status, `feature ${i}`).toBe(200);
      const report = (await res.json()) as Report;
      expect(report.imported).toBe(1);
      expect(report.errors).toHaveLength(1);
      expect(report.errors[0]!.index).toBe(1);
      expect(report.errors[0]!.reason).toMatch(/^features\[1\]: expected at most 20000 points/);
    }
    // Nothing else in the body: nothing stored, 400 with the report.
    const deep = `[{"type":"Feature","geometry":{"type":"Polygon","coordinates":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}}]`;
    const res = await importGeoJson(deep);
    expect(res.status).toBe(400);
    const report = (await res.json()) as Report;
    expect(report).toMatchObject({ code: 'INVALID_PARAMETER', imported: 0 });
    expect(report.errors[0]!.reason).toMatch(/^features\[0\]: coordinates nested deeper/);
    expect(await annotationCount()).toBe(n + 2);
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
  });

  it('leaves out a feature with coordinates beyond ±1e7 or non-finite, naming it, and stores the rest', async () => {
    const n = await annotationCount();
    const point = (coordinates: string) =>
      `{"type":"Feature","geometry":{"type":"Point","coordinates":${coordinates}},"properties":{}}`;
    for (const [coords, why] of [
      ['[20000000, 5]', /outside ±10000000/],
      ['[5, -1.5e7]', /outside ±10000000/],
      // JSON has no Infinity, but 1e999 parses to it.
      ['[1e999, 5]', /finite numbers/],
      ['[5, -1e999]', /finite numbers/],
    ] as const) {
      const res = await importGeoJson(`[${point('[1, 2]')},${point('[3, 4]')},${point(coords)}]`);
      expect(res.status, coords).toBe(200);
      const report = (await res.json()) as Report;
      expect(report.imported).toBe(2);
      expect(report.errors.map((e) => e.index)).toEqual([2]);
      expect(report.errors[0]!.reason).toMatch(/^features\[2\]: /);
      expect(report.errors[0]!.reason).toMatch(why);
    }
    // NaN is not JSON, but QuPath writes it (for a measurement without a value): read as null, so not a coordinate.
    const nan = await importGeoJson(`[${point('[NaN, 1]')}]`);
    expect(nan.status).toBe(400);
    const report = (await nan.json()) as Report;
    expect(report.code).toBe('INVALID_PARAMETER');
    expect(report.errors[0]!.reason).toMatch(/^features\[0\]: expected \[x, y\] finite numbers/);
    // The edge itself is allowed.
    const edge = await importGeoJson(`[${point('[10000000, -10000000]')}]`);
    expect(edge.status).toBe(201);
    expect(await annotationCount()).toBe(n + 4 * 2 + 1);
  });
});

describe('case CSV import', () => {
  const HEADER = 'accession,site,specimen,subspecialty,priority,received_date';
  const importCsv = (body: string): Promise<Response> =>
    api('manager', '/api/cases/import', { method: 'POST', headers: { 'content-type': 'text/csv' }, body });
  const caseCount = async (): Promise<number> =>
    Number(
      (
        await ctx.db
          .selectFrom('cases')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('reports each field over its length as a bad row, without repeating the field, and stores the rest', async () => {
    const long = (n: number) => 'x'.repeat(n);
    const csv = [
      HEADER,
      'LEN-1,north,biopsy,breast,routine,2024-01-02',
      `${'A'.repeat(41)},north,biopsy,breast,routine,2024-01-02`,
      `LEN-3,${long(49)},biopsy,breast,routine,2024-01-02`,
      `LEN-4,north,${long(41)},breast,routine,2024-01-02`,
      `LEN-5,north,biopsy,${long(25)},routine,2024-01-02`,
      `LEN-6,north,biopsy,breast,${long(9)},2024-01-02`,
      `LEN-7,north,biopsy,breast,routine,2024-01-02${long(1)}`,
      `LEN-8,north,${long(1_000_000)},gi,urgent,2024-01-03`,
      `"LEN-9",north,"core, left",breast,urgent,2024-01-04`,
    ].join('\n');
    const res = await importCsv(csv);
    expect(res.status).toBe(200);
    const report = (await res.json()) as { imported: number; errors: { row: number; message: string }[] };
    expect(report.imported).toBe(2);
    expect(report.errors.map((e) => [e.row, e.message])).toEqual([
      [3, 'accession is 41 characters (at most 40)'],
      [4, 'site is 49 characters (at most 48)'],
      [5, 'specimen is 41 characters (at most 40)'],
      [6, 'subspecialty is 25 characters (at most 24)'],
      [7, 'priority is 9 characters (at most 8)'],
      [8, 'received is 11 characters (at most 10)'],
      [9, 'specimen is 1000000 characters (at most 40)'],
    ]);
    const stored = await ctx.db
      .selectFrom('cases')
      .select(['accession', 'specimen_type'])
      .where('accession', 'like', 'LEN-%')
      .execute();
    expect(stored.map((c) => [c.accession, c.specimen_type]).sort()).toEqual([
      ['LEN-1', 'biopsy'],
      ['LEN-9', 'core,_left'],
    ]);
  });

  it('lists the first 1000 bad rows and counts the rest; cases already stored are bad rows too', async () => {
    const rows = Array.from({ length: 1500 }, (_, i) => `BAD-${i},nowhere,biopsy,breast,routine,2024-01-02`);
    const res = await importCsv([HEADER, 'LEN-1,north,biopsy,breast,routine,2024-01-02', ...rows].join('\n'));
    expect(res.status).toBe(400);
    const report = (await res.json()) as { imported: number; errors: { row: number; message: string }[] };
    expect(report.imported).toBe(0);
    expect(report.errors).toHaveLength(1001);
    expect(report.errors[0]).toEqual({ row: 2, message: 'case LEN-1 already exists' });
    expect(report.errors[1]).toEqual({ row: 3, message: 'unknown site "nowhere"' });
    expect(report.errors.at(-1)).toEqual({ row: 1002, message: '501 more bad rows (not listed)' });
  });

  it('stores every row of a 1 MB file, batch after batch', async () => {
    const rows: string[] = [];
    for (let i = 0, size = 0; size < 1024 * 1024; i++) {
      const row = `MB-${String(i).padStart(7, '0')},north,biopsy,${i % 2 ? 'gi' : 'skin'},routine,2024-02-01`;
      rows.push(row);
      size += row.length + 1;
    }
    const before = await caseCount();
    const res = await importCsv([HEADER, ...rows].join('\r\n'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ imported: rows.length, errors: [] });
    expect(await caseCount()).toBe(before + rows.length);
  });

  it('refuses a file over the row limit or the body limit whole, with 413 IMPORT_TOO_LARGE', async () => {
    const before = await caseCount();
    const rows = Array.from({ length: 200_001 }, (_, i) => `R${i},north,biopsy,gi,urgent,2024-01-02`);
    const tooMany = await errorOf(await importCsv([HEADER, ...rows].join('\n')));
    expect(tooMany).toMatchObject({ status: 413, code: 'IMPORT_TOO_LARGE' });
    expect(tooMany.message).toMatch(/at most 200000 rows/);
    const tooBig = await errorOf(await importCsv(`${HEADER}\n${'x'.repeat(10 * 1024 * 1024)}`));
    expect(tooBig).toMatchObject({ status: 413, code: 'IMPORT_TOO_LARGE' });
    expect(tooBig.message).toMatch(/at most 10 MB/);
    expect(await caseCount()).toBe(before);
  });
});
