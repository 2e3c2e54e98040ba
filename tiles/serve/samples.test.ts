import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { boxDownsample, meanAbsDiff, toRgb, vipsRegion } from '../../tests/helpers/pixels.ts';
import { requireSlides, slidePath } from '../../tests/helpers/slides.ts';
import { ingest } from '../ingest/index.ts';
import { dziLevelCount, dziLevelSize } from '../pyramid/math.ts';
import { LocalSlideStore } from '../store/local.ts';
import { ADOBE_RGB } from './jpeg.ts';
import { TileService } from './service.ts';

const CMU = 'aperio/CMU-1-Small-Region.svs';
const BOXES = 'generic-tiff/openslide-boxes.tiff';
const OME = 'ome-tiff/bfconvert-XYC-jpeg-tiled.ome.tiff';

describe.skipIf(!requireSlides())('tile serving on sample slides', () => {
  let dir = '';
  let store: LocalSlideStore;
  let service: TileService;
  const slides: Record<string, Manifest> = {};

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-serve-samples-'));
    store = new LocalSlideStore(dir);
    for (const p of [CMU, BOXES, OME]) {
      slides[p] = (await ingest(slidePath(p), store, { tileSize: 256, jpegQuality: 92 })).manifest;
    }
    service = new TileService(store);
  });
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const top = (m: Manifest): number => dziLevelCount(m.width, m.height) - 1;
  const decode = async (b: Buffer) => toRgb(sharp(b));

  it('CMU-1: a stored tile decodes to the pixels of its level, in the right colours', async () => {
    const m = slides[CMU]!;
    // The scanner's 240 px tiles are stored as they are; tile (3, 5) is pixels 720.., 1200...
    expect(m.tileSize).toBe(240);
    const tile = (await service.dziTile(m.id, top(m), 3, 5))!;
    expect(tile.kind).toBe('raw');
    expect(tile.body.subarray(2, 2 + ADOBE_RGB.length).equals(ADOBE_RGB)).toBe(true);
    const got = await decode(tile.body);
    const file = store.localPath(m.id, 'slide.tif')!;
    const ref = await toRgb(
      sharp(file, { page: 0, limitInputPixels: false }).extract({
        left: 720,
        top: 1200,
        width: 240,
        height: 240,
      }),
    );
    for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(1);
    // H&E tissue is pink / purple: red above green. Decoded as YCbCr it would turn green / magenta.
    let r = 0;
    let g = 0;
    for (let i = 0; i < got.data.length; i += 3) {
      r += got.data[i]!;
      g += got.data[i + 1]!;
    }
    expect(r).toBeGreaterThan(g * 1.1);
  });

  it('CMU-1: Deep Zoom tiles match an independent decode of the source (vips + OpenSlide)', async () => {
    const m = slides[CMU]!;
    const full = await decode((await service.dziTile(m.id, top(m), 3, 5))!.body);
    const fullRef = await vipsRegion(slidePath(CMU), 720, 1200, 240, 240);
    // The scanner's own tile: the same decode as the source's.
    for (const d of meanAbsDiff(full, fullRef)) expect(d).toBeLessThan(1);
    // One level down: tile (1, 1) covers source pixels 480..959, shrunk 2x.
    const half = await decode((await service.dziTile(m.id, top(m) - 1, 1, 1))!.body);
    const halfRef = boxDownsample(await vipsRegion(slidePath(CMU), 480, 480, 480, 480), 1);
    for (const d of meanAbsDiff(half, halfRef)) expect(d).toBeLessThan(3);
  });

  it('CMU-1: a rendered right-edge tile matches the source too', async () => {
    const m = slides[CMU]!;
    const tile = (await service.dziTile(m.id, top(m), 9, 4))!;
    expect(tile.kind).toBe('rendered');
    const got = await decode(tile.body);
    expect([got.width, got.height]).toEqual([2220 - 2160, 240]);
    const ref = await vipsRegion(slidePath(CMU), 2160, 960, 60, 240);
    for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(3);
  });

  it.each([
    [CMU, 2220, 2967],
    [BOXES, 300, 250],
  ])('%s: every tile of every level has exactly its Deep Zoom size, down to 1 x 1', async (p, w, h) => {
    const m = slides[p]!;
    const T = m.tileSize;
    expect([m.width, m.height]).toEqual([w, h]);
    for (let level = 0; level <= top(m); level++) {
      const size = dziLevelSize(w, h, level);
      for (let row = 0; row * T < size.height; row++) {
        for (let col = 0; col * T < size.width; col++) {
          const tile = await service.dziTile(m.id, level, col, row);
          const meta = await sharp(tile!.body).metadata();
          expect([meta.width, meta.height], `${level}/${col}_${row}`).toEqual([
            Math.min(T, size.width - col * T),
            Math.min(T, size.height - row * T),
          ]);
        }
      }
    }
  });

  it('CMU-1: the IIIF request for a stored tile is the Deep Zoom tile, byte for byte', async () => {
    const m = slides[CMU]!;
    const a = await service.iiifImage(m.id, '240,480,240,240', '240,240', '0', 'default.jpg');
    const b = (await service.dziTile(m.id, top(m), 1, 2))!;
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.etag).toBe(b.etag);
  });

  it('CMU-1: a whole-slide IIIF image is read from a reduced level and matches the source', async () => {
    const m = slides[CMU]!;
    const img = await service.iiifImage(m.id, 'full', '555,', '0', 'default.png');
    const got = await decode(img.body);
    expect([got.width, got.height]).toEqual([555, 742]);
    const ref = await toRgb(
      sharp(slidePath(CMU), { limitInputPixels: false }).resize(555, 742, { fit: 'fill' }),
    );
    for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(4);
  });

  it('CMU-1: a thumbnail larger than thumbnail.jpg comes from the pyramid', async () => {
    const m = slides[CMU]!;
    const t = (await service.thumbnail(m.id, 2000))!;
    const meta = await sharp(t.body).metadata();
    expect([meta.width, meta.height]).toEqual([1496, 2000]);
    const label = (await service.associated(m.id, 'label'))!;
    expect((await sharp(label.body).metadata()).width).toBe(387);
  });

  it('OME-TIFF (tiled JPEG source): tiles are served from its store copy', async () => {
    const m = slides[OME]!;
    const tile = (await service.dziTile(m.id, top(m), 0, 0))!;
    const meta = await sharp(tile.body).metadata();
    expect([meta.width, meta.height]).toEqual([
      Math.min(m.tileSize, m.width),
      Math.min(m.tileSize, m.height),
    ]);
  });
});
