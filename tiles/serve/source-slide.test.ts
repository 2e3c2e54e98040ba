import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { meanAbsDiff, toRgb } from '../../tests/helpers/pixels.ts';
import { requirePythonOpenslide, requireSlides, slidePath } from '../../tests/helpers/slides.ts';
import { ingest } from '../ingest/index.ts';
import { dziLevelCount, dziLevelSize } from '../pyramid/math.ts';
import { openSlide } from '../readers/index.ts';
import { closeRegionReaders } from '../readers/openslide/regions.ts';
import { LocalSlideStore } from '../store/local.ts';
import { TileService } from './service.ts';
import { SourceSlide, boxMean, whyNotServable } from './source-slide.ts';

const CMU = 'aperio/CMU-1-Small-Region.svs';
const NDPI = 'hamamatsu/orbit-test3-DAPI-387.ndpi';

/** A scanner-like pyramidal TIFF: 240 px JPEG tiles, levels halving, tissue-like texture. */
async function pyramidTiff(file: string, width: number, height: number): Promise<void> {
  const small = Buffer.alloc((width >> 5) * (height >> 5) * 3);
  let seed = 7;
  for (let i = 0; i < small.length; i += 3) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const v = seed >>> 24;
    small[i] = 200 + (v % 50);
    small[i + 1] = 120 + ((v >> 2) % 60);
    small[i + 2] = 170 + ((v >> 3) % 40);
  }
  await sharp(small, { raw: { width: width >> 5, height: height >> 5, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .tiff({ tile: true, tileWidth: 240, tileHeight: 240, pyramid: true, compression: 'jpeg', quality: 90 })
    .toFile(file);
}

/**
 * Every Deep Zoom tile of two services, decoded and compared: the worst channel's mean difference of
 * any tile at least 32 px on each side, and of any such level's tiles taken together. (A strip thinner
 * than a JPEG block row or two at a level's edge differs more: the stored level's padding past its
 * edge comes from the scanner's padding, halved level by level.)
 */
async function worstDziDifference(
  a: TileService,
  b: TileService,
  m: Manifest,
  o: { channels?: number[]; from?: number } = {},
): Promise<number> {
  let worst = 0;
  const levels = dziLevelCount(m.width, m.height);
  const channels = o.channels ?? [0, 1, 2];
  for (let level = o.from ?? 0; level < levels; level++) {
    const size = dziLevelSize(m.width, m.height, level);
    const cols = Math.ceil(size.width / m.tileSize);
    const rows = Math.ceil(size.height / m.tileSize);
    const sums = [0, 0, 0];
    let pixels = 0;
    for (let row = 0; row < rows; row++)
      for (let col = 0; col < cols; col++) {
        const x = await toRgb(sharp((await a.dziTile(m.id, level, col, row))!.body));
        const y = await toRgb(sharp((await b.dziTile(m.id, level, col, row))!.body));
        const d = meanAbsDiff(x, y).filter((_, i) => channels.includes(i));
        const n = x.width * x.height;
        d.forEach((v, i) => (sums[i]! += v * n));
        pixels += n;
        if (process.env.DEBUG_MAD && Math.max(...d) > 3) console.log(level, col, row, d);
        if (x.width >= 32 && x.height >= 32) worst = Math.max(worst, ...d);
      }
    if (size.width >= 32 && size.height >= 32)
      worst = Math.max(worst, ...sums.slice(0, channels.length).map((v) => v / pixels));
  }
  return worst;
}

describe('boxMean', () => {
  it('is the rounded mean of each n x n block; blocks cut by the edge average what is there', async () => {
    // 5 x 3 RGB: red = x + 10y, green = 2x, blue = 255 - x.
    const src = Buffer.alloc(5 * 3 * 3);
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 5; x++) src.set([x + 10 * y, 2 * x, 255 - x], (y * 5 + x) * 3);
    const out = await boxMean(src, 5, 3, 3, 2, 3, 2);
    // Block (0,0): x 0..1, y 0..1. Block (2,0): x 4 only. Block (0,1): y 2 only.
    expect([...out.subarray(0, 3)]).toEqual([
      Math.round((0 + 1 + 10 + 11) / 4),
      1,
      Math.round((255 + 254) / 2),
    ]);
    expect([...out.subarray(6, 9)]).toEqual([Math.round((4 + 14) / 2), 8, 251]);
    expect([...out.subarray(9, 12)]).toEqual([Math.round((20 + 21) / 2), 1, Math.round((255 + 254) / 2)]);
    expect([...out.subarray(15, 18)]).toEqual([24, 8, 251]);
  });

  it('halves as the general block mean does, edges included, for any size', async () => {
    // The 2 x 2 fast path against the same means summed block by block, on odd and even sizes.
    for (const [sw, sh] of [
      [9, 7],
      [8, 6],
      [1, 5],
      [6, 1],
      [33, 20],
    ] as const) {
      const src = Buffer.alloc(sw * sh * 3);
      for (let i = 0; i < src.length; i++) src[i] = (i * 37 + (i >> 3) * 11) & 255;
      const w = Math.ceil(sw / 2);
      const h = Math.ceil(sh / 2);
      const out = await boxMean(src, sw, sh, 3, 2, w, h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let c = 0; c < 3; c++) {
            let sum = 0;
            let cnt = 0;
            for (let sy = 2 * y; sy < Math.min(2 * y + 2, sh); sy++)
              for (let sx = 2 * x; sx < Math.min(2 * x + 2, sw); sx++) {
                sum += src[(sy * sw + sx) * 3 + c]!;
                cnt++;
              }
            expect(out[(y * w + x) * 3 + c], `${sw}x${sh} (${x},${y}) band ${c}`).toBe(Math.round(sum / cnt));
          }
    }
  });

  it('lets other work run while it reduces a large region', async () => {
    const sw = 4096;
    const sh = 4096;
    const src = Buffer.alloc(sw * sh * 3, 128);
    let ran = 0;
    let pending = true;
    const tick = (): void => {
      ran++;
      if (pending) setImmediate(tick);
    };
    setImmediate(tick);
    const out = await boxMean(src, sw, sh, 3, 16, sw / 16, sh / 16);
    pending = false;
    expect(out.every((v) => v === 128)).toBe(true);
    // 16.7 M pixels take well over a slice on any machine: other callbacks ran in between.
    expect(ran).toBeGreaterThan(2);
  });
});

describe('SourceSlide.warm', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'warm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const opened = async (file: string): Promise<SourceSlide> =>
    SourceSlide.open(await openSlide(file, { serving: true }), {
      id: 'f'.repeat(32),
      name: 'w',
      tileSize: 240,
      jpegQuality: 90,
    });

  it('makes the coarsest tiles ahead where they come from a large level, not from a small one', async () => {
    // Levels halving down to one tile: the coarsest tiles come from a small level, quick when asked.
    const pyramid = path.join(dir, 'pyramid.tif');
    await pyramidTiff(pyramid, 2000, 1500);
    const small = await opened(pyramid);
    try {
      expect(await small.warm()).toBe(0);
    } finally {
      await small.close();
    }
    // One 2,000 x 1,500 level (3 megapixels): the coarsest tile is made from all of it, ahead.
    const flat = path.join(dir, 'flat.tif');
    await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#d0a0c0' } })
      .tiff({ tile: true, tileWidth: 240, tileHeight: 240, compression: 'jpeg', quality: 90 })
      .toFile(flat);
    const large = await opened(flat);
    try {
      const last = large.manifest.levelInfo[large.manifest.levels - 1]!;
      expect(await large.warm()).toBe(last.tilesX * last.tilesY);
    } finally {
      await large.close();
    }
  });
});

describe('serving a slide from its source before its conversion ends', () => {
  let dir = '';
  let store: LocalSlideStore;
  let stored: TileService;
  let pyramid = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-source-slide-'));
    store = new LocalSlideStore(path.join(dir, 'store'));
    stored = new TileService(store);
    pyramid = path.join(dir, 'pyramid.tif');
    await pyramidTiff(pyramid, 3000, 2100);
  });
  afterAll(async () => {
    await stored?.close();
    await closeRegionReaders();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The stored slide and a service serving the same slide from its source (nothing in its store). */
  async function both(file: string): Promise<{ m: Manifest; fromSource: TileService; slide: SourceSlide }> {
    const { manifest: m } = await ingest(file, store, { tileSize: 256, jpegQuality: 92 });
    const slide = await SourceSlide.open(await openSlide(file), {
      id: m.id,
      name: m.name,
      tileSize: 256,
      jpegQuality: 92,
    });
    const fromSource = new TileService(new LocalSlideStore(path.join(dir, 'empty')));
    fromSource.addSource(slide);
    return { m, fromSource, slide };
  }

  it('a pyramidal JPEG TIFF: same geometry as the stored pyramid, every Deep Zoom tile within MAD 3', async () => {
    const { m, fromSource, slide } = await both(pyramid);
    try {
      expect(slide.manifest.tileSize).toBe(m.tileSize);
      expect(slide.manifest.levelInfo).toEqual(m.levelInfo);
      expect(await fromSource.dziDescriptor(m.id)).toBe(await stored.dziDescriptor(m.id));
      expect(await worstDziDifference(fromSource, stored, m)).toBeLessThan(3);
      // Level 0 is the scanner's tiles passed through: the stored tile's pixels exactly.
      const top = dziLevelCount(m.width, m.height) - 1;
      const a = (await fromSource.dziTile(m.id, top, 2, 1))!;
      const b = (await stored.dziTile(m.id, top, 2, 1))!;
      expect(a.kind).toBe('raw');
      expect(a.provisional).toBe(true);
      // The source's own level 1 is on the stored grid: its tiles go out as they are too.
      expect(slide.passThrough(1)).toBe(true);
      expect((await fromSource.dziTile(m.id, top - 1, 1, 1))!.kind).toBe('raw');
      expect(slide.passThrough(m.levels - 1)).toBe(false);
      for (const d of meanAbsDiff(await toRgb(sharp(a.body)), await toRgb(sharp(b.body))))
        expect(d).toBeLessThan(0.5);
      // Caches never mix the two: another ETag, marked as the source's.
      expect(a.etag).not.toBe(b.etag);
      expect(a.etag).toContain('-src-');
      expect(b.provisional).toBeUndefined();
    } finally {
      await fromSource.close();
    }
  });

  it('IIIF regions and thumbnails from the source match the stored ones', async () => {
    const { m, fromSource } = await both(pyramid);
    try {
      for (const [region, size] of [
        ['full', '400,'],
        ['1000,700,900,600', 'max'],
        ['0,0,1024,1024', '256,'],
      ] as const) {
        const a = await fromSource.iiifImage(m.id, region, size, '0', 'default.jpg');
        const b = await stored.iiifImage(m.id, region, size, '0', 'default.jpg');
        for (const d of meanAbsDiff(await toRgb(sharp(a.body)), await toRgb(sharp(b.body))))
          expect(d).toBeLessThan(3);
      }
      const ta = (await fromSource.thumbnail(m.id, 300))!;
      const tb = (await stored.thumbnail(m.id, 300))!;
      for (const d of meanAbsDiff(await toRgb(sharp(ta.body)), await toRgb(sharp(tb.body))))
        expect(d).toBeLessThan(3);
    } finally {
      await fromSource.close();
    }
  });

  it('once the source is dropped, the same requests come from the store', async () => {
    const { m } = await both(pyramid);
    const service = new TileService(store);
    try {
      const slide = await SourceSlide.open(await openSlide(pyramid), {
        id: m.id,
        name: m.name,
        tileSize: 256,
        jpegQuality: 92,
      });
      service.addSource(slide);
      const top = dziLevelCount(m.width, m.height) - 3;
      const before = (await service.dziTile(m.id, top, 0, 0))!;
      expect(before.etag).toContain('-src-');
      expect(service.cachedDziTile(m.id, top, 0, 0)?.etag).toBe(before.etag);
      service.dropSource(m.id, 0);
      expect(service.servesSource(m.id)).toBe(false);
      const after = (await service.dziTile(m.id, top, 0, 0))!;
      expect(after.etag).not.toContain('-src-');
      expect(after.provisional).toBeUndefined();
      expect(slide.isClosed).toBe(true);
    } finally {
      await service.close();
    }
  });

  it('a source without a pyramid of its own is refused (served once converted)', async () => {
    const flat = path.join(dir, 'flat.tif');
    await sharp({ create: { width: 5000, height: 4000, channels: 3, background: '#e0a0c0' } })
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg' })
      .toFile(flat);
    const source = await openSlide(flat);
    try {
      expect(whyNotServable(source)).toMatch(/no pyramid of its own/);
      await expect(
        SourceSlide.open(source, { id: 'a'.repeat(32), name: 'flat', tileSize: 256, jpegQuality: 90 }),
      ).rejects.toThrow(/no pyramid/);
    } finally {
      await source.close();
    }
  });

  describe.skipIf(!requireSlides())('sample slides', () => {
    it('CMU-1 (Aperio, RGB-coded JPEG tiles): every Deep Zoom tile within MAD 3 of the stored one', async () => {
      const { m, fromSource } = await both(slidePath(CMU));
      try {
        expect(m.tileSize).toBe(240);
        expect(await worstDziDifference(fromSource, stored, m)).toBeLessThan(3);
      } finally {
        await fromSource.close();
      }
    });

    it.skipIf(!requirePythonOpenslide())(
      'Hamamatsu NDPI (OpenSlide, regions read by a long-lived reader process): full resolution within MAD 3 of the stored tiles, lower levels within 3 in red and green',
      async () => {
        const { m, fromSource, slide } = await both(slidePath(NDPI));
        try {
          expect(m.sourceFormat).toBe('hamamatsu-ndpi');
          // Opened to be served (properties from the region reader, no vips run): the same slide.
          const light = await openSlide(slidePath(NDPI), { serving: true });
          try {
            const full = await openSlide(slidePath(NDPI));
            expect(light.levels).toEqual(full.levels);
            expect([light.mppX, light.mppY, light.objectivePower]).toEqual([
              full.mppX,
              full.mppY,
              full.objectivePower,
            ]);
            expect(light.properties['hamamatsu.SourceLens']).toBe(full.properties['hamamatsu.SourceLens']);
            await full.close();
            const served = await SourceSlide.open(light, {
              id: m.id,
              name: m.name,
              tileSize: 256,
              jpegQuality: 92,
            });
            expect(served.manifest.levelInfo).toEqual(m.levelInfo);
            await served.close();
          } finally {
            await light.close();
          }
          expect(slide.manifest.levelInfo).toEqual(m.levelInfo);
          expect(slide.passThrough(0)).toBe(false);
          // Full resolution: every channel.
          const top = dziLevelCount(m.width, m.height) - 1;
          expect(await worstDziDifference(fromSource, stored, m, { from: top })).toBeLessThan(3);
          // Below it, red and green. The stored levels are halved from the stored level 0 decoded
          // (itself coded twice: the OpenSlide intermediate, then the store), the source's from
          // OpenSlide's pixels coded once; on this fluorescence (DAPI) scan's saturated blue the two
          // generations of JPEG chroma loss part the blue channel by up to ~7.
          expect(await worstDziDifference(fromSource, stored, m, { channels: [0, 1] })).toBeLessThan(3);
          expect(await worstDziDifference(fromSource, stored, m, { channels: [2] })).toBeLessThan(8);
        } finally {
          await fromSource.close();
        }
      },
    );
  });
});
