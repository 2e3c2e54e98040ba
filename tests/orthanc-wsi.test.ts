import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { haveChromium, launchChromium } from '../scripts/browser.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { ingest } from '../tiles/index.ts';
import { userWithToken } from './helpers/auth.ts';
import { type Orthanc, requireOrthanc, startOrthanc, storeAll } from './helpers/orthanc.ts';
import { meanAbsDiff, toRgb } from './helpers/pixels.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

/**
 * Tessera's DICOM export of a real slide, stored into Orthanc (an independent DICOM
 * server, with its WSI plugin), is a pyramid Orthanc understands: the same levels, every tile of
 * every level the pixels of Tessera's stored tile for that place (mean absolute difference < 3), and
 * Orthanc's own WSI viewer draws the slide in headless chromium (screenshot in tests/artifacts).
 *
 * Orthanc WSI 1.1 (Debian) passes over OVERVIEW and THUMBNAIL instances but takes a LABEL instance
 * for one more pyramid level, and its viewer then opens on the label: the series is stored here
 * without label.dcm (see README, DICOM export).
 */

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const have = requireSlides() && requireOrthanc('Orthanc WSI checks');

let dir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
let token = '';
let orthanc: Orthanc;
let cmu: Manifest;
/** Orthanc's id of the stored series. */
let series = '';
const files = new Map<string, Buffer>();

const tessera = (p: string): Promise<Response> =>
  fetch(`${base}${p}`, { headers: { authorization: `Bearer ${token}` } });

describe.skipIf(!have)("Tessera's DICOM export in Orthanc's WSI plugin", () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-orthanc-wsi-'));
    ctx = await createServerContext(
      loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1' }, {}),
      () => {},
    );
    token = (await userWithToken(ctx.db, { name: 'path-n', role: 'pathologist', siteId: 'north' })).token;
    server = createServer(createHandler(ctx, createApp(ctx)));
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The scanner's 240 px JPEG tiles kept as level 0: DICOM frames are the same bytes.
    ({ manifest: cmu } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
      tileSize: 256,
      jpegQuality: 92,
    }));
    await ctx.slides.register(cmu, 'north');
    // The export as a user downloads it.
    const res = await tessera(`/api/slides/${cmu.id}/export?format=dicom`);
    expect(res.status).toBe(200);
    writeFileSync(path.join(dir, 'export.zip'), Buffer.from(await res.arrayBuffer()));
    execFileSync('unzip', ['-q', '-o', path.join(dir, 'export.zip'), '-d', path.join(dir, 'export')]);
    for (const folder of readdirSync(path.join(dir, 'export')))
      for (const f of readdirSync(path.join(dir, 'export', folder)))
        files.set(f, readFileSync(path.join(dir, 'export', folder, f)));
    orthanc = await startOrthanc();
    series = await storeAll(
      orthanc,
      [...files].filter(([name]) => name !== 'label.dcm').map(([, data]) => data),
    );
  }, 180_000);

  afterAll(async () => {
    await orthanc?.stop();
    if (server) await new Promise((r) => server.close(r));
    await ctx?.tiles.close();
    await ctx?.db.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the export holds a level per stored level, a label and an overview', () => {
    expect([...files.keys()].sort()).toEqual(
      [...Array.from({ length: cmu.levels }, (_, k) => `level-${k}.dcm`), 'label.dcm', 'overview.dcm'].sort(),
    );
  });

  it("Orthanc's pyramid is Tessera's: the same levels, sizes and tile size (the overview not taken for a level)", async () => {
    const p = await orthanc.rest<{
      Sizes: number[][];
      TilesSizes: number[][];
      TotalWidth: number;
      TotalHeight: number;
    }>(`/wsi/pyramids/${series}`);
    expect([p.TotalWidth, p.TotalHeight]).toEqual([cmu.width, cmu.height]);
    expect(p.Sizes).toEqual(cmu.levelInfo.map((l) => [l.width, l.height]));
    expect(p.TilesSizes).toEqual(cmu.levelInfo.map(() => [cmu.tileSize, cmu.tileSize]));
  });

  it("every tile of every level from Orthanc's tiles route decodes and matches Tessera's stored tile of that place (MAD < 3)", async () => {
    const t = cmu.tileSize;
    let compared = 0;
    let sameBytes = 0;
    let worst = 0;
    for (const [k, l] of cmu.levelInfo.entries()) {
      for (let row = 0; row < l.tilesY; row++)
        for (let col = 0; col < l.tilesX; col++) {
          const o = await fetch(`${orthanc.url}/wsi/tiles/${series}/${k}/${col}/${row}`);
          expect(o.status, `${k}/${col}/${row}`).toBe(200);
          expect(o.headers.get('content-type')).toBe('image/jpeg');
          const theirs = Buffer.from(await o.arrayBuffer());
          // What Tessera sends for this place as a DICOM frame (and, inside the level, as a Deep
          // Zoom tile): the stored tile, whole, edge ones padded.
          const ours = (await ctx.tiles.storedTile(cmu.id, k, col, row))!.body;
          const meta = await sharp(theirs).metadata();
          expect([meta.width, meta.height]).toEqual([t, t]);
          // Only the part inside the level counts: padding is anyone's.
          const w = Math.min(t, l.width - col * t);
          const h = Math.min(t, l.height - row * t);
          const a = await toRgb(sharp(theirs).extract({ left: 0, top: 0, width: w, height: h }));
          const b = await toRgb(sharp(ours).extract({ left: 0, top: 0, width: w, height: h }));
          const mad = Math.max(...meanAbsDiff(a, b));
          expect(mad, `level ${k} tile ${col},${row}`).toBeLessThan(3);
          worst = Math.max(worst, mad);
          if (theirs.equals(ours)) sameBytes++;
          compared++;
        }
    }
    expect(compared).toBe(cmu.levelInfo.reduce((s, l) => s + l.tilesX * l.tilesY, 0));
    console.log(
      `Orthanc WSI tiles: ${compared} compared, worst MAD ${worst.toFixed(3)}, ${sameBytes} byte-identical to Tessera's`,
    );
  }, 120_000);

  it.skipIf(!haveChromium() && process.env.CI !== 'true')(
    "Orthanc's WSI viewer draws the slide in chromium (tests/artifacts/orthanc-wsi-viewer.png)",
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
        const tiles: number[] = [];
        page.on('response', (r) => {
          if (r.url().includes('/wsi/tiles/')) tiles.push(r.status());
        });
        await page.goto(`${orthanc.url}/wsi/app/viewer.html?series=${series}`, { waitUntil: 'networkidle' });
        await page.waitForTimeout(500);
        mkdirSync(ARTIFACTS, { recursive: true });
        const shot = await page.screenshot({ path: path.join(ARTIFACTS, 'orthanc-wsi-viewer.png') });
        expect(tiles.length).toBeGreaterThan(0);
        expect(tiles.every((s) => s === 200)).toBe(true);
        // H&E on white: a good share of the middle is pink to purple (red and blue above green),
        // which neither an empty map nor the orange label nor swapped colour channels would be.
        const mid = await toRgb(sharp(shot).extract({ left: 300, top: 100, width: 600, height: 600 }));
        let stained = 0;
        for (let i = 0; i < mid.data.length; i += 3) {
          const [r, g, b] = [mid.data[i]!, mid.data[i + 1]!, mid.data[i + 2]!];
          if (r - g > 40 && b - g > 20) stained++;
        }
        const share = stained / (mid.width * mid.height);
        console.log(
          `Orthanc WSI viewer: ${tiles.length} tiles, ${(share * 100).toFixed(1)} % stained pixels`,
        );
        expect(share).toBeGreaterThan(0.05);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
