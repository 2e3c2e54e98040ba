import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { type Rgb, meanAbsDiff, toRgb } from '../../tests/helpers/pixels.ts';
import { dziLevelCount, dziLevelSize } from '../pyramid/math.ts';
import { LocalSlideStore } from '../store/local.ts';
import { makeStoredSlide } from './fixtures.ts';
import { ADOBE_RGB, findSegment } from './jpeg.ts';
import { TileService } from './service.ts';

let dir = '';
let store: LocalSlideStore;
let service: TileService;
/** 1000 x 777, RGB-encoded tiles (quality 92). */
let odd: Manifest;
/** 257 x 255: one pixel over a tile one way, one under the other. */
let tiny: Manifest;
/** 1000 x 777 again, other pixels, YCbCr tiles (quality 80). */
let ycc: Manifest;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-serve-'));
  store = new LocalSlideStore(dir);
  odd = await makeStoredSlide(store, 1000, 777);
  tiny = await makeStoredSlide(store, 257, 255);
  ycc = await makeStoredSlide(store, 1000, 777, { quality: 80, seed: 1 });
  service = new TileService(store);
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

const slideFile = (m: Manifest): string => path.join(dir, 'slides', m.id, 'slide.tif');
const top = (m: Manifest): number => dziLevelCount(m.width, m.height) - 1;

/** libvips' own decode of a region of a stored level, the reference for pass-through bytes. */
function levelRegion(m: Manifest, k: number, x: number, y: number, w: number, h: number) {
  return sharp(slideFile(m), { page: k, limitInputPixels: false }).extract({
    left: x,
    top: y,
    width: w,
    height: h,
  });
}

/** Wait (a tick at a time, at most 5 s) until `ready` holds. */
async function until(ready: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!ready()) {
    if (Date.now() > end) throw new Error('timed out waiting for the scheduler');
    await new Promise((r) => setTimeout(r, 1));
  }
}

function maxDiff(a: Rgb, b: Rgb): number {
  return Math.max(...meanAbsDiff(a, b));
}

async function iiif(m: Manifest, p: string, svc = service) {
  const [region, size, rotation, qf] = p.split('/') as [string, string, string, string];
  return svc.iiifImage(m.id, region, size, rotation, qf);
}

describe('raw pass-through', () => {
  it.each([
    ['RGB-encoded', () => odd],
    ['YCbCr', () => ycc],
  ])('%s tiles decode to the same pixels as the level itself', async (_name, slide) => {
    const m = slide();
    for (const [k, col, row] of [
      [0, 0, 0],
      [0, 2, 1],
      [1, 0, 0],
    ] as const) {
      const tile = (await service.dziTile(m.id, top(m) - k, col, row))!;
      expect(tile.kind).toBe('raw');
      expect(tile.contentType).toBe('image/jpeg');
      const got = await toRgb(sharp(tile.body));
      const ref = await toRgb(levelRegion(m, k, col * 256, row * 256, 256, 256));
      expect(maxDiff(got, ref), `${k}/${col}/${row}`).toBeLessThan(1);
    }
  });

  it('an Adobe marker (transform 0) follows SOI exactly when Photometric is RGB', async () => {
    const rgb = (await service.dziTile(odd.id, top(odd), 1, 1))!.body;
    expect(rgb.subarray(2, 2 + ADOBE_RGB.length).equals(ADOBE_RGB)).toBe(true);
    const yuv = (await service.dziTile(ycc.id, top(ycc), 1, 1))!.body;
    expect(yuv.readUInt16BE(0)).toBe(0xffd8);
    expect(findSegment(yuv, [0xee])).toBe(-1);
  });

  it('a stored tile is one complete JPEG: tables, frame, scan, EOI', async () => {
    const body = (await service.dziTile(odd.id, top(odd), 1, 1))!.body;
    expect(body.readUInt16BE(0)).toBe(0xffd8);
    expect(body.readUInt16BE(body.length - 2)).toBe(0xffd9);
    expect(findSegment(body, [0xdb])).toBeGreaterThan(0);
    expect(findSegment(body, [0xc4])).toBeGreaterThan(0);
    expect(findSegment(body, [0xc0])).toBeGreaterThan(0);
  });
});

describe('Deep Zoom', () => {
  it.each([
    ['1000 x 777', () => odd],
    ['257 x 255', () => tiny],
    ['1000 x 777 YCbCr', () => ycc],
  ])('every tile of %s has exactly its Deep Zoom size and the pixels of its place', async (_name, slide) => {
    const m = slide();
    const levels = dziLevelCount(m.width, m.height);
    for (let level = 0; level < levels; level++) {
      const size = dziLevelSize(m.width, m.height, level);
      const k = levels - 1 - level;
      for (let row = 0; row * 256 < size.height; row++) {
        for (let col = 0; col * 256 < size.width; col++) {
          const where = `${level}/${col}_${row}`;
          const tile = await service.dziTile(m.id, level, col, row);
          expect(tile, where).not.toBeNull();
          const got = await toRgb(sharp(tile!.body));
          const w = Math.min(256, size.width - col * 256);
          const h = Math.min(256, size.height - row * 256);
          expect([got.width, got.height], where).toEqual([w, h]);
          if (k >= m.levels) continue;
          // Deep Zoom sizes round up, stored levels down: the extra row / column repeats the edge.
          const l = m.levelInfo[k]!;
          const x = Math.min(col * 256, l.width - 1);
          const y = Math.min(row * 256, l.height - 1);
          const cw = Math.min(col * 256 + w, l.width) - x;
          const ch = Math.min(row * 256 + h, l.height) - y;
          const ref = await toRgb(
            levelRegion(m, k, x, y, cw, ch).extend({ right: w - cw, bottom: h - ch, extendWith: 'copy' }),
          );
          expect(maxDiff(got, ref), where).toBeLessThan(tile!.kind === 'raw' ? 1 : 3);
        }
      }
    }
  });

  it('bottom-edge tiles of full width are stored bytes with a lower frame height', async () => {
    const tile = (await service.dziTile(odd.id, top(odd), 0, 3))!;
    expect(tile.kind).toBe('raw');
    const meta = await sharp(tile.body).metadata();
    expect([meta.width, meta.height]).toEqual([256, 777 - 768]);
  });

  it('a level one pixel taller than the stored level repeats its last row', async () => {
    // 1000 x 777: stored level 1 is 500 x 388, Deep Zoom's 500 x 389.
    const tile = (await service.dziTile(odd.id, top(odd) - 1, 0, 1))!;
    const got = await toRgb(sharp(tile.body));
    expect([got.width, got.height]).toEqual([256, 133]);
    const rowOf = (y: number): Rgb => ({
      width: got.width,
      height: 1,
      data: got.data.subarray(y * got.width * 3, (y + 1) * got.width * 3),
    });
    expect(maxDiff(rowOf(132), rowOf(131))).toBeLessThan(3);
  });

  it('levels below the stored pyramid go down to 1 x 1, with the slide colour', async () => {
    const levels = dziLevelCount(odd.width, odd.height);
    const smallest = odd.levelInfo.at(-1)!;
    const mean = (p: Rgb): number[] =>
      [0, 1, 2].map(
        (c) => p.data.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (p.width * p.height),
      );
    const ref = mean(await toRgb(levelRegion(odd, odd.levels - 1, 0, 0, smallest.width, smallest.height)));
    for (let level = levels - 1 - odd.levels; level >= 0; level--) {
      const tile = (await service.dziTile(odd.id, level, 0, 0))!;
      const got = await toRgb(sharp(tile.body));
      expect([got.width, got.height]).toEqual(Object.values(dziLevelSize(odd.width, odd.height, level)));
      if (level <= 3)
        mean(got).forEach((v, c) => expect(Math.abs(v - ref[c]!), `level ${level}`).toBeLessThan(12));
    }
  });

  it('tiles outside the pyramid are null; unknown slides are SLIDE_NOT_FOUND', async () => {
    expect(await service.dziTile(odd.id, top(odd) + 1, 0, 0)).toBeNull();
    expect(await service.dziTile(odd.id, top(odd), 4, 0)).toBeNull();
    expect(await service.dziTile(odd.id, top(odd), 0, 4)).toBeNull();
    expect(await service.dziTile(odd.id, -1, 0, 0)).toBeNull();
    for (const id of ['0'.repeat(32), '../../etc/passwd', `${odd.id}/../x`, '']) {
      await expect(service.dziTile(id, 0, 0, 0)).rejects.toMatchObject({ code: 'SLIDE_NOT_FOUND' });
      await expect(service.iiifImage(id, 'full', 'max', '0', 'default.jpg')).rejects.toMatchObject({
        code: 'SLIDE_NOT_FOUND',
      });
      expect(await service.dziDescriptor(id)).toBeNull();
      expect(await service.iiifInfo(id, 'http://x')).toBeNull();
      expect(await service.thumbnail(id, 100)).toBeNull();
      expect(await service.associated(id, 'label')).toBeNull();
      expect(await service.manifest(id)).toBeNull();
    }
  });

  it('the descriptor and ETags: strong, stable, different per tile', async () => {
    expect(await service.dziDescriptor(odd.id)).toContain('<Size Width="1000" Height="777"/>');
    const a = (await service.dziTile(odd.id, top(odd), 0, 0))!;
    const b = (await service.dziTile(odd.id, top(odd), 0, 0))!;
    const c = (await service.dziTile(odd.id, top(odd), 1, 0))!;
    const d = (await service.dziTile(odd.id, top(odd), 3, 0))!;
    expect(a.etag).toBe(b.etag);
    expect(a.etag).not.toBe(c.etag);
    expect(d.etag).not.toBe(c.etag);
    for (const t of [a, c, d]) expect(t.etag).toMatch(new RegExp(`^${odd.id}-[A-Za-z0-9._-]+$`));
  });
});

describe('IIIF', () => {
  it('a request for exactly one stored tile is byte-identical to the Deep Zoom tile', async () => {
    for (const [p, level, col, row] of [
      ['256,256,256,256/256,/0/default.jpg', top(odd), 1, 1],
      ['0,0,512,512/256,256/0/color.jpg', top(odd) - 1, 0, 0],
      ['0,768,256,9/256,9/0/default.jpg', top(odd), 0, 3],
    ] as const) {
      const a = await iiif(odd, p);
      const b = (await service.dziTile(odd.id, level, col, row))!;
      expect(a.kind, p).toBe('raw');
      expect(a.body.equals(b.body), p).toBe(true);
      expect(a.etag, p).toBe(b.etag);
    }
  });

  it('content types follow the format', async () => {
    expect((await iiif(odd, 'full/200,/0/default.jpg')).contentType).toBe('image/jpeg');
    expect((await iiif(odd, 'full/200,/0/default.png')).contentType).toBe('image/png');
    expect((await iiif(odd, 'full/200,/0/default.webp')).contentType).toBe('image/webp');
    expect((await sharp((await iiif(odd, 'full/200,/0/default.webp')).body).metadata()).format).toBe('webp');
  });

  it('a rendered region matches the level-0 pixels scaled', async () => {
    const got = await toRgb(sharp((await iiif(odd, '100,100,600,400/300,/0/default.png')).body));
    const ref = await toRgb(levelRegion(odd, 0, 100, 100, 600, 400).resize(300, 200));
    expect([got.width, got.height]).toEqual([300, 200]);
    expect(maxDiff(got, ref)).toBeLessThan(3);
  });

  it('region and size forms give the sizes the spec says', async () => {
    const size = async (p: string): Promise<number[]> => {
      const m = await sharp((await iiif(odd, p)).body).metadata();
      return [m.width, m.height];
    };
    expect(await size('pct:10,10,20,20/,100/0/default.jpg')).toEqual([129, 100]);
    expect(await size('square/max/0/default.jpg')).toEqual([777, 777]);
    expect(await size('0,0,100,50/^200,/0/default.png')).toEqual([200, 100]);
    expect(await size('full/!200,200/0/default.jpg')).toEqual([200, 155]);
    expect(await size('full/pct:5/0/default.jpg')).toEqual([50, 39]);
    expect(await size('900,700,500,500/max/0/default.jpg')).toEqual([100, 77]);
    expect(await size('full/120,30/0/default.jpg')).toEqual([120, 30]);
  });

  it('rotations swap dimensions and turn clockwise; ! mirrors first', async () => {
    const png = async (rot: string): Promise<Buffer> =>
      (await iiif(odd, `0,0,300,200/max/${rot}/default.png`)).body;
    const base = await png('0');
    const cases: [string, (s: Sharp) => Sharp, number[]][] = [
      ['90', (s) => s.rotate(90), [200, 300]],
      ['180', (s) => s.rotate(180), [300, 200]],
      ['270', (s) => s.rotate(270), [200, 300]],
      ['!0', (s) => s.flop(), [300, 200]],
      ['!90', (s) => s.flop().rotate(90), [200, 300]],
    ];
    for (const [rot, op, dims] of cases) {
      const got = await toRgb(sharp(await png(rot)));
      expect([got.width, got.height], rot).toEqual(dims);
      const ref = await toRgb(op(sharp(base)));
      expect(maxDiff(got, ref), rot).toBeLessThan(0.01);
    }
  });

  it('gray is grey (R = G = B), one channel where the format has one', async () => {
    for (const f of ['jpg', 'png', 'webp']) {
      const body = (await iiif(odd, `0,0,400,300/200,/90/gray.${f}`)).body;
      const rgb = await toRgb(sharp(body));
      // WebP has no grey mode: its chroma planes round to within a level or two of grey.
      const slack = f === 'webp' ? 2 : 0;
      let worst = 0;
      for (let i = 0; i < rgb.data.length; i += 3) {
        worst = Math.max(
          worst,
          Math.abs(rgb.data[i]! - rgb.data[i + 1]!),
          Math.abs(rgb.data[i]! - rgb.data[i + 2]!),
        );
      }
      expect(worst, f).toBeLessThanOrEqual(slack);
      if (f !== 'webp') expect((await sharp(body).metadata()).channels, f).toBe(1);
    }
  });

  it('invalid requests are INVALID_PARAMETER with a message', async () => {
    for (const p of [
      'full/max/45/default.jpg',
      'full/max/0/bitonal.jpg',
      'full/max/0/default.gif',
      '0,0,-5,10/max/0/default.jpg',
      '5000,0,10,10/max/0/default.jpg',
      'full/2000,/0/default.jpg',
      'full/0,/0/default.jpg',
    ]) {
      await expect(iiif(odd, p), p).rejects.toMatchObject({
        code: 'INVALID_PARAMETER',
        message: expect.stringMatching(/^Expected .* received/),
      });
    }
  });

  it('info.json takes its id from the caller', async () => {
    const info = (await service.iiifInfo(odd.id, 'https://viewer.example/iiif/3/x'))!;
    expect(info).toMatchObject({ id: 'https://viewer.example/iiif/3/x', width: 1000, height: 777 });
    expect(JSON.stringify(info)).not.toContain(dir);
  });
});

describe('render cache', () => {
  it('concurrent identical renders run once; the next one is a cache hit', async () => {
    const svc = new TileService(store);
    try {
      const all = await Promise.all(
        Array.from({ length: 8 }, () => iiif(odd, '10,10,700,500/333,/!90/gray.png', svc)),
      );
      expect(svc.stats.rendered).toBe(1);
      expect(new Set(all.map((r) => r.etag)).size).toBe(1);
      expect(all.every((r) => r.body.equals(all[0]!.body))).toBe(true);
      const again = await iiif(odd, '10,10,700,500/333,/!90/gray.png', svc);
      expect(again.kind).toBe('cached');
      expect(again.etag).toBe(all[0]!.etag);
      expect(svc.stats.rendered).toBe(1);
    } finally {
      await svc.close();
    }
  });

  it('stored tiles are kept once read: answered without a file read, the same bytes', async () => {
    const svc = new TileService(store);
    try {
      const t = top(odd);
      expect(svc.cachedDziTile(odd.id, t, 1, 2)).toBeUndefined();
      const first = (await svc.dziTile(odd.id, t, 1, 2))!;
      expect(first.kind).toBe('raw');
      const kept = svc.cachedDziTile(odd.id, t, 1, 2)!;
      expect(kept.kind).toBe('raw');
      expect(kept.etag).toBe(first.etag);
      expect(kept.body.equals(first.body)).toBe(true);
      // Another tile of the same level is not there until asked for; a level below the stored
      // pyramid comes from the render cache, marked as such.
      expect(svc.cachedDziTile(odd.id, t, 2, 2)).toBeUndefined();
      expect(svc.cachedDziTile(odd.id, 3, 0, 0)).toBeUndefined();
      await svc.dziTile(odd.id, 3, 0, 0);
      expect(svc.cachedDziTile(odd.id, 3, 0, 0)!.kind).toBe('cached');
      // Out of the pyramid, and an unknown slide: nothing, never a throw.
      expect(svc.cachedDziTile(odd.id, t, 99, 0)).toBeUndefined();
      expect(svc.cachedDziTile('0'.repeat(32), t, 0, 0)).toBeUndefined();
      // Forgetting the slide drops its tiles.
      svc.forget(odd.id);
      expect(svc.cachedDziTile(odd.id, t, 1, 2)).toBeUndefined();
    } finally {
      await svc.close();
    }
  });

  it('with no cache budget nothing is kept, stored or rendered', async () => {
    const svc = new TileService(store, { cacheBytes: 0 });
    try {
      await svc.dziTile(odd.id, top(odd), 0, 0);
      await svc.dziTile(odd.id, 3, 0, 0);
      expect(svc.cachedDziTile(odd.id, top(odd), 0, 0)).toBeUndefined();
      expect(svc.cachedDziTile(odd.id, 3, 0, 0)).toBeUndefined();
      expect(svc.cachedBytes).toBe(0);
    } finally {
      await svc.close();
    }
  });

  it('eviction keeps the byte bound', async () => {
    const bound = 20_000;
    const svc = new TileService(store, { cacheBytes: bound });
    try {
      for (let i = 0; i < 30; i++) {
        await iiif(odd, `${i * 10},0,300,300/${100 + i},/0/default.jpg`, svc);
        expect(svc.cachedBytes).toBeLessThanOrEqual(bound);
      }
      expect(svc.cachedBytes).toBeGreaterThan(0);
      // The first render was evicted long ago: asked again, it is rendered again.
      expect((await iiif(odd, '0,0,300,300/100,/0/default.jpg', svc)).kind).toBe('rendered');
      expect((await iiif(odd, '0,0,300,300/100,/0/default.jpg', svc)).kind).toBe('cached');
    } finally {
      await svc.close();
    }
  });

  it('a render whose client went away is not started', async () => {
    const svc = new TileService(store, { renderConcurrency: 1 });
    try {
      const gone = new AbortController();
      gone.abort();
      await expect(
        svc.iiifImage(odd.id, 'full', '500,', '0', 'default.png', { signal: gone.signal }),
      ).rejects.toThrow();
      // Queued behind another render, then abandoned: never started either.
      const busy = svc.iiifImage(odd.id, 'full', '900,', '0', 'default.png');
      const leaving = new AbortController();
      const queued = svc
        .iiifImage(odd.id, 'full', '400,', '0', 'default.png', { signal: leaving.signal })
        .then(
          () => 'rendered',
          (e: unknown) => (e as Error).name,
        );
      leaving.abort();
      await busy;
      expect(await queued).toBe('AbortError');
      expect(svc.stats.rendered).toBe(1);
    } finally {
      await svc.close();
    }
  });
});

describe('render scheduling and limits', () => {
  it("another requester's thumbnail goes before a queue of heavy renders; stored tiles never wait", async () => {
    const svc = new TileService(store, { renderConcurrency: 1, cacheBytes: 0, smallRenderCost: 0 });
    try {
      const done: string[] = [];
      const heavy = Array.from({ length: 6 }, (_, i) =>
        svc
          .iiifImage(odd.id, 'full', `^${1990 - i},`, '0', 'default.png', { requester: 'a' })
          .then(() => done.push(`heavy${i}`)),
      );
      await until(() => svc.scheduler.waiting === 5);
      expect(svc.scheduler.running).toBe(1);
      const stored = await svc.dziTile(odd.id, top(odd), 1, 1, { requester: 'b' });
      expect(stored!.kind).toBe('raw');
      // The stored tile came back while renders were still queued: it never waited for them.
      expect(svc.scheduler.waiting).toBeGreaterThan(0);
      const thumb = svc.thumbnail(odd.id, 100, { requester: 'b' }).then(() => done.push('thumb'));
      await Promise.all([...heavy, thumb]);
      expect(done.indexOf('thumb')).toBe(1);
      expect(svc.stats.rendered).toBe(7);
    } finally {
      await svc.close();
    }
  });

  it('with the slot kept for small renders, a thumbnail starts while the heavy render runs', async () => {
    const svc = new TileService(store, { renderConcurrency: 1, cacheBytes: 0, smallRenderCost: 1_000_000 });
    try {
      const heavy = [0, 1, 2].map((i) =>
        svc.iiifImage(odd.id, 'full', `^${1990 - i},`, '0', 'default.png', { requester: 'a' }),
      );
      await until(() => svc.scheduler.waiting === 2);
      const thumb = svc.thumbnail(odd.id, 101, { requester: 'b' });
      expect([svc.scheduler.running, svc.scheduler.waiting]).toEqual([1, 2]);
      await until(() => svc.scheduler.running === 2);
      expect(svc.scheduler.waiting).toBe(2);
      expect((await thumb)!.kind).toBe('rendered');
      await Promise.all(heavy);
    } finally {
      await svc.close();
    }
  });

  it('a full queue refuses with SERVER_BUSY; the running render still completes', async () => {
    const svc = new TileService(store, { renderConcurrency: 1, renderQueue: 0, smallRenderCost: 0 });
    try {
      const running = svc.iiifImage(odd.id, 'full', '^1500,', '0', 'default.png', { requester: 'a' });
      await until(() => svc.scheduler.running === 1);
      await expect(
        svc.iiifImage(odd.id, 'full', '300,', '0', 'default.jpg', { requester: 'b' }),
      ).rejects.toMatchObject({ code: 'SERVER_BUSY', retryAfterSeconds: expect.any(Number) });
      expect((await running).kind).toBe('rendered');
      // Stored tiles and cached renders are not renders: they are answered whatever the queue.
      expect((await svc.iiifImage(odd.id, '0,0,256,256', '256,', '0', 'default.jpg')).kind).toBe('raw');
    } finally {
      await svc.close();
    }
  });

  it('output beyond the configured limits and reads beyond maxReadArea are INVALID_PARAMETER', async () => {
    const svc = new TileService(store, {
      iiifLimits: { maxWidth: 1200, maxHeight: 1200, maxArea: 250_000, maxUpscale: 1.5 },
      maxReadArea: 200_000,
    });
    try {
      expect(await svc.iiifInfo(odd.id, 'http://x/iiif/3/a')).toMatchObject({
        maxWidth: 1200,
        maxHeight: 1200,
        maxArea: 250_000,
      });
      await expect(iiif(odd, 'full/600,/0/default.jpg', svc)).rejects.toMatchObject({
        code: 'INVALID_PARAMETER',
        message: expect.stringMatching(/within 1200x1200 and 250000 pixels/),
      });
      await expect(iiif(odd, '0,0,100,100/^151,/0/default.jpg', svc)).rejects.toMatchObject({
        message: expect.stringMatching(/upscaling is limited to 1.5x/),
      });
      expect((await iiif(odd, '0,0,100,100/^150,/0/default.jpg', svc)).kind).toBe('rendered');
      // 1000 x 1 of the whole 1000 x 777 slide keeps level 0 (777,000 pixels) for one row of output.
      await expect(iiif(odd, 'full/1000,1/0/default.jpg', svc)).rejects.toMatchObject({
        code: 'INVALID_PARAMETER',
        message: expect.stringMatching(/reading at most 200000 source pixels .* reads 1000x777/),
      });
      expect((await iiif(odd, 'full/400,/0/default.jpg', svc)).kind).toBe('rendered');
    } finally {
      await svc.close();
    }
  });
});

describe('thumbnails and associated images', () => {
  it('thumbnail fits max, never above the slide size; thumbnail.jpg itself when it is that size', async () => {
    const t = (await service.thumbnail(odd.id, 200))!;
    const m = await sharp(t.body).metadata();
    expect([m.width, m.height]).toEqual([200, 155]);
    const whole = (await service.thumbnail(odd.id, 2048))!;
    expect(whole.kind).toBe('raw');
    expect(whole.body.equals(readFileSync(path.join(dir, 'slides', odd.id, 'thumbnail.jpg')))).toBe(true);
    expect((await service.thumbnail(odd.id, 200))!.kind).toBe('cached');
  });

  it('max outside 1..2048 is INVALID_PARAMETER', async () => {
    for (const max of [0, 2049, 1.5, Number.NaN]) {
      await expect(service.thumbnail(odd.id, max)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    }
  });

  it('associated images are the stored bytes; null where there is none', async () => {
    const thumb = (await service.associated(odd.id, 'thumbnail'))!;
    expect(thumb.contentType).toBe('image/jpeg');
    expect(thumb.body.equals(readFileSync(path.join(dir, 'slides', odd.id, 'thumbnail.jpg')))).toBe(true);
    expect(await service.associated(odd.id, 'label')).toBeNull();
    expect(await service.associated(odd.id, 'manifest' as 'label')).toBeNull();
  });
});

describe('open slides', () => {
  it('stay within maxOpenSlides while many requests alternate between slides', async () => {
    const svc = new TileService(store, { maxOpenSlides: 1 });
    try {
      const ids = [odd, tiny, ycc];
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => svc.dziTile(ids[i % 3]!.id, top(ids[i % 3]!), 0, 0)),
      );
      expect(results.every((r) => r !== null && r.body.readUInt16BE(0) === 0xffd8)).toBe(true);
      expect(svc.openSlides).toBeLessThanOrEqual(1);
      expect(await svc.dziTile(odd.id, top(odd), 1, 1)).not.toBeNull();
    } finally {
      await svc.close();
    }
  });

  it('after close, requests fail instead of touching closed files', async () => {
    const svc = new TileService(store);
    await svc.dziTile(odd.id, top(odd), 0, 0);
    await svc.close();
    await expect(svc.dziTile(odd.id, top(odd), 0, 0)).rejects.toThrow(/closed/);
  });
});
