/**
 * Tessera's DICOMweb read by clients nobody here wrote, in headless chromium on another origin (as a
 * viewer's own site is), with a bearer token: dicomweb-client (npm) finds the sample slide's study,
 * series and instances by QIDO-RS, reads level 0's metadata and retrieves its frames, which are the
 * stored tiles byte for byte; dicom-microscopy-viewer (npm, the library Slim is built on) shows the
 * slide, its frames fetched from Tessera. Both libraries are loaded from node_modules into a test
 * page (tests/fixtures/dicomweb-clients/index.html) that a small static server here serves.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import sharp, { type Region, type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import type { DicomJson } from '../tiles/export/dicom-json.ts';
import { ingest } from '../tiles/index.ts';
import { makeStoredSlide } from '../tiles/serve/fixtures.ts';
import { artifact, launchChromium, requireChromium } from './e2e/harness.ts';
import { userWithToken } from './helpers/auth.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PAGE = path.join(ROOT, 'tests', 'fixtures', 'dicomweb-clients', 'index.html');
/** What the page loads, straight from node_modules. */
const LIBS: Record<string, string> = {
  '/lib/dicomweb-client.js': path.join(ROOT, 'node_modules/dicomweb-client/build/dicomweb-client.js'),
};
/** dicom-microscopy-viewer's dynamic-import build expects to live under this path. */
const DMV_PREFIX = '/dicom-microscopy-viewer/';
const DMV_DIR = path.join(ROOT, 'node_modules/dicom-microscopy-viewer/dist/dynamic-import');
const ACCESSION = 'H26-0077';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

const ready = requireSlides() && requireChromium();
let dir = '';
let ctx: ServerContext;
let server: Server;
let site: Server;
let browser: Browser;
let page: Page;
/** Tessera as the page reaches it: 127.0.0.1, another origin than the page's localhost. */
let api = '';
let token = '';
let cmu: Manifest;
/** Requests Tessera received (method and path), in order. */
const seen: { method: string; url: string; status?: number }[] = [];
/** What the page asked its own site for and did not get. */
const missing: string[] = [];
const consoleErrors: string[] = [];
/** Process warnings while the server ran (a listener leak on a response shows up here). */
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);

const value = (ds: DicomJson | undefined, t: string): unknown => ds?.[t]?.Value?.[0];

function serveSite(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  let file: string | undefined;
  let type = 'text/javascript';
  if (url.pathname === '/') {
    file = PAGE;
    type = 'text/html';
  } else if (LIBS[url.pathname]) {
    file = LIBS[url.pathname];
  } else if (url.pathname.startsWith(DMV_PREFIX)) {
    const name = url.pathname.slice(DMV_PREFIX.length);
    if (/^[\w.-]+$/.test(name)) file = path.join(DMV_DIR, name);
    if (name.endsWith('.wasm')) type = 'application/wasm';
    else if (name.endsWith('.map')) type = 'application/json';
  }
  if (!file || !existsSync(file)) {
    missing.push(url.pathname);
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': type });
  createReadStream(file).pipe(res);
}

beforeAll(async () => {
  if (!ready) return;
  process.on('warning', onWarning);
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-dicomweb-clients-'));
  ctx = await createServerContext(
    loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {}),
    () => {},
  );
  token = (await userWithToken(ctx.db, { name: 'viewer', role: 'pathologist', siteId: 'north' })).token;
  ({ manifest: cmu } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
    tileSize: 256,
    jpegQuality: 92,
  }));
  await ctx.slides.register(cmu, 'north');
  const c = await ctx.cases.create({
    accession: ACCESSION,
    siteId: 'north',
    specimenType: 'biopsy',
    subspecialty: 'gi',
    priority: 'routine',
    receivedAt: '2026-03-02',
  });
  await ctx.cases.attachSlide(c.id, cmu.id);
  // A second study the searches must tell apart.
  await ctx.slides.register(await makeStoredSlide(ctx.store, 600, 400, { seed: 4 }), 'north');
  const handler = createHandler(ctx, createApp(ctx));
  server = createServer((req, res) => {
    const entry: (typeof seen)[number] = { method: req.method ?? '', url: req.url ?? '' };
    seen.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  site = createServer(serveSite);
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`http://localhost:${(site.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true);
}, 240_000);

afterAll(async () => {
  if (!ready) return;
  process.off('warning', onWarning);
  await browser?.close();
  await new Promise((r) => site?.close(r));
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await ctx?.tiles.close();
  await ctx?.db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

interface Walk {
  everyStudy: DicomJson[];
  studies: DicomJson[];
  series: DicomJson[];
  instances: DicomJson[];
  seriesMetadata: DicomJson[];
  instanceMetadata: DicomJson;
  frameNumbers: number[];
  frames: string[];
  octetFrame: string;
}

type PageFn<A, R> = (args: A) => Promise<R>;

function walk(args: { url: string; token: string; accession: string; width: number }): Promise<Walk> {
  return page.evaluate((a) => (globalThis as unknown as { walk: PageFn<typeof a, Walk> }).walk(a), args);
}

const framePath = /^\/dicomweb\/studies\/[\d.]+\/series\/[\d.]+\/instances\/[\d.]+\/frames\//;

describe.skipIf(!ready)('dicomweb-client (npm) in chromium on another origin', () => {
  let w: Walk;
  beforeAll(async () => {
    w = await walk({ url: `${api}/dicomweb`, token, accession: ACCESSION, width: cmu.width });
  }, 120_000);

  it('finds the slide’s study by accession among every study, then its one SM series and its instances', () => {
    expect(w.everyStudy).toHaveLength(2);
    expect(w.studies).toHaveLength(1);
    const study = value(w.studies[0], '0020000D');
    expect(w.everyStudy.map((s) => value(s, '0020000D'))).toContain(study);
    expect(value(w.studies[0], '00080050')).toBe(ACCESSION);
    expect(w.series).toHaveLength(1);
    expect(value(w.series[0], '00080060')).toBe('SM');
    // A level per instance, and the label and overview.
    expect(w.instances).toHaveLength(cmu.levels + 2);
    const flavours = w.instances.map((i) => i['00080008']?.Value?.[2]).sort();
    expect(flavours).toEqual([...Array<string>(cmu.levels).fill('VOLUME'), 'LABEL', 'OVERVIEW'].sort());
    expect(w.seriesMetadata).toHaveLength(cmu.levels + 2);
  });

  it('level 0’s metadata states the slide’s size, tiles and JPEG Baseline', () => {
    const m = w.instanceMetadata;
    const l0 = cmu.levelInfo[0]!;
    expect(value(m, '00480006')).toBe(cmu.width); // TotalPixelMatrixColumns
    expect(value(m, '00480007')).toBe(cmu.height); // TotalPixelMatrixRows
    expect(value(m, '00280011')).toBe(cmu.tileSize); // Columns
    expect(value(m, '00280010')).toBe(cmu.tileSize); // Rows
    expect(value(m, '00280008')).toBe(l0.tilesX * l0.tilesY); // NumberOfFrames
    expect(value(m, '00209311')).toBe('TILED_FULL'); // DimensionOrganizationType
    expect(value(m, '00083002')).toBe(JPEG_BASELINE); // AvailableTransferSyntaxUID
    expect(w.frameNumbers).toHaveLength(l0.tilesX * l0.tilesY);
  });

  it('every frame of level 0 is the stored tile byte for byte, decodes, and each inner one is the Deep Zoom tile', async () => {
    const l0 = cmu.levelInfo[0]!;
    const dziTop = Math.ceil(Math.log2(Math.max(cmu.width, cmu.height)));
    expect(w.frames).toHaveLength(l0.tilesX * l0.tilesY);
    for (let i = 0; i < w.frames.length; i++) {
      const frame = Buffer.from(w.frames[i]!, 'base64');
      const col = i % l0.tilesX;
      const row = Math.floor(i / l0.tilesX);
      const stored = await ctx.tiles.storedTile(cmu.id, 0, col, row);
      expect(frame.equals(stored!.body), `frame ${i + 1}`).toBe(true);
      const { info } = await sharp(frame).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([cmu.tileSize, cmu.tileSize, 3]);
      const inner = (col + 1) * cmu.tileSize <= cmu.width && (row + 1) * cmu.tileSize <= cmu.height;
      if (inner) {
        const dz = await fetch(`${api}/slides/${cmu.id}_files/${dziTop}/${col}_${row}.jpeg`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(dz.status).toBe(200);
        expect(Buffer.from(await dz.arrayBuffer()).equals(frame), `Deep Zoom ${col}_${row}`).toBe(true);
      }
    }
    // As dicom-microscopy-viewer asks (octets, transfer-syntax=*): the same bytes.
    expect(Buffer.from(w.octetFrame, 'base64').equals(Buffer.from(w.frames[0]!, 'base64'))).toBe(true);
  });

  it('asked Tessera for all of them in one request, after a CORS preflight, without piling up listeners', () => {
    const frames = seen.filter((r) => framePath.test(r.url));
    const all = frames.filter(
      (r) => r.method === 'GET' && r.url.endsWith(`/frames/${w.frameNumbers.join(',')}`),
    );
    expect(all).toHaveLength(1);
    expect(all[0]!.status).toBe(200);
    // The page is on another origin and sends Authorization and a quoted Accept: preflighted.
    const preflights = frames.filter((r) => r.method === 'OPTIONS');
    expect(preflights.length).toBeGreaterThanOrEqual(1);
    expect(preflights.every((r) => r.status === 204)).toBe(true);
    expect(warnings.filter((x) => /MaxListeners/.test(x))).toEqual([]);
  });
});

interface ViewerState {
  framesStarted: number;
  framesEnded: number;
  frameErrors: number;
  errors: string[];
}

const viewerState = (): Promise<ViewerState> =>
  page.evaluate(() => (globalThis as unknown as { viewerState: ViewerState }).viewerState);

/** Raw RGB of an image file. */
const rgb = (file: string) => sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });

/**
 * Where the slide is drawn in a screenshot: the columns and rows that are mostly not the page's
 * white (the slide's glass is light grey, not white; the overview map in a corner and the scale bar
 * are too small to count).
 */
function slideBox(data: Buffer, width: number, height: number): Region {
  const notWhite = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    return data[i]! < 255 || data[i + 1]! < 255 || data[i + 2]! < 255;
  };
  const xs: number[] = [];
  for (let x = 0; x < width; x++) {
    let n = 0;
    for (let y = 0; y < height; y++) if (notWhite(x, y)) n++;
    if (n > height / 2) xs.push(x);
  }
  const ys: number[] = [];
  for (let y = 0; y < height; y++) {
    let n = 0;
    for (let x = 0; x < width; x++) if (notWhite(x, y)) n++;
    if (n > xs.length / 2) ys.push(y);
  }
  const left = xs[0] ?? 0;
  const top = ys[0] ?? 0;
  return { left, top, width: (xs.at(-1) ?? 0) - left + 1, height: (ys.at(-1) ?? 0) - top + 1 };
}

/** Mean absolute difference per channel value of two same-sized raw RGB images. */
function mad(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe.skipIf(!ready)('dicom-microscopy-viewer (npm) in chromium on another origin', () => {
  it('shows the slide’s VolumeImageViewer, its frames read from Tessera, the picture Tessera renders', async () => {
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const studies = (await (
      await fetch(`${api}/dicomweb/studies?AccessionNumber=${ACCESSION}`, auth)
    ).json()) as DicomJson[];
    const studyInstanceUID = String(value(studies[0], '0020000D'));
    const series = (await (
      await fetch(`${api}/dicomweb/studies/${studyInstanceUID}/series`, auth)
    ).json()) as DicomJson[];
    const seriesInstanceUID = String(value(series[0], '0020000E'));
    const before = seen.length;
    const shown = await page
      .evaluate((a) => (globalThis as unknown as { show: PageFn<typeof a, { images: number }> }).show(a), {
        url: `${api}/dicomweb`,
        token,
        studyInstanceUID,
        seriesInstanceUID,
      })
      .catch((e: unknown) => {
        // Without the page's stack: its frames name URLs, which the test runner takes for files.
        throw new Error(`the page failed: ${String(e).split('\n')[0]}`);
      });
    // Every level is a VOLUME image of the pyramid; label and overview are not.
    expect(shown.images).toBe(cmu.levels);

    // Wait until every frame asked for has come and been decoded, and none for 1.5 s more.
    let state = await viewerState();
    let last = -1;
    let quietSince = Date.now();
    for (const t0 = Date.now(); Date.now() - t0 < 60_000;) {
      await new Promise((r) => setTimeout(r, 250));
      state = await viewerState();
      if (state.framesEnded !== last) {
        last = state.framesEnded;
        quietSince = Date.now();
      } else if (state.framesEnded > 0 && state.framesEnded === state.framesStarted) {
        if (Date.now() - quietSince > 1500) break;
      }
    }
    const shot = artifact('dicom-microscopy-viewer.png');
    await page.screenshot({ path: shot });
    expect(state.errors, consoleErrors.join('\n')).toEqual([]);
    expect(state.frameErrors).toBe(0);
    expect(state.framesEnded).toBeGreaterThan(0);
    expect(state.framesEnded).toBe(state.framesStarted);
    // The frames it showed were asked of Tessera, each answered 200.
    const frameGets = seen.slice(before).filter((r) => r.method === 'GET' && framePath.test(r.url));
    expect(frameGets.length).toBeGreaterThanOrEqual(state.framesEnded);
    expect(frameGets.filter((r) => r.status !== 200)).toEqual([]);
    // Nothing the viewer needed was missing from its own site (its worker, its WASM decoders).
    expect(missing.filter((p) => p !== '/favicon.ico')).toEqual([]);

    // The slide fills the viewport's height at its own aspect ratio...
    const screen = await rgb(shot);
    const box = slideBox(screen.data, screen.info.width, screen.info.height);
    expect(box.height).toBeGreaterThan(screen.info.height * 0.9);
    expect(Math.abs(box.width / box.height - cmu.width / cmu.height)).toBeLessThan(0.01);
    // ...and is the picture Tessera renders itself at that size, not an empty or garbled canvas.
    // The viewer lays a slide out by its slide coordinates, the Y axis left to right and the label
    // on the right: for Image Orientation (Slide) [0, -1, 0, -1, 0, 0] (Tessera's, as Google's converter
    // and OpenSlide's DICOM samples write it) that is the pixel matrix turned half a turn.
    const metadata = (await (
      await fetch(`${api}/dicomweb/studies/${studyInstanceUID}/series/${seriesInstanceUID}/metadata`, auth)
    ).json()) as DicomJson[];
    for (const m of metadata.filter((i) => i['00080008']?.Value?.[2] === 'VOLUME'))
      expect(m['00480102']?.Value).toEqual([0, -1, 0, -1, 0, 0]);
    // Compared at a quarter of the size: resampling and a pixel's shift are not what is checked.
    const size = { width: Math.round(box.width / 4), height: Math.round(box.height / 4) };
    const small = (img: Sharp) =>
      img.resize(size.width, size.height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    const shownPixels = await small(sharp(shot).extract(box));
    const rendered = await fetch(
      `${api}/iiif/3/${cmu.id}/full/${box.width},${box.height}/0/default.jpg`,
      auth,
    );
    expect(rendered.status).toBe(200);
    const reference = Buffer.from(await rendered.arrayBuffer());
    const turned = mad(shownPixels, await small(sharp(reference).rotate(180)));
    const upright = mad(shownPixels, await small(sharp(reference)));
    console.log(
      `dicom-microscopy-viewer: ${state.framesEnded} frames from Tessera, slide drawn at ` +
        `${box.left},${box.top} ${box.width}x${box.height}; mean difference from Tessera's render ` +
        `turned 180°: ${turned.toFixed(2)} (not turned: ${upright.toFixed(2)})`,
    );
    expect(turned).toBeLessThan(5);
    expect(upright).toBeGreaterThan(turned * 3);
  }, 120_000);
});
