import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlideDto } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { dziLevelCount, dziLevelSize, ingest } from '../tiles/index.ts';
import { boxDownsample, meanAbsDiff, spread, toRgb, vipsRegion } from './helpers/pixels.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';
import { authedFetch, userWithToken } from './helpers/auth.ts';

let adminToken = '';
/** Every request below as an administrator; access rules have tests of their own (access.test.ts). */
const fetch = authedFetch(() => adminToken);

const have = requireSlides();
const CMU = 'aperio/CMU-1-Small-Region.svs';
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const ids: Record<string, string> = {};

async function start(
  corsOrigins: string,
  more: Record<string, string | number> = {},
): Promise<{ ctx: ServerContext; server: Server; base: string }> {
  const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1', corsOrigins, ...more }, {});
  const c = await createServerContext(config, () => {});
  const s = createServer(createHandler(c, createApp(c)));
  s.listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  return { ctx: c, server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-tiles-'));
  if (have) {
    const { LocalSlideStore } = await import('../tiles/index.ts');
    const store = new LocalSlideStore(dataDir);
    for (const p of [CMU, 'generic-tiff/openslide-boxes.tiff', 'dicom/wsi-to-dicom-converter-jpeg.dcm']) {
      ids[p] = (await ingest(slidePath(p), store, { tileSize: 256, jpegQuality: 92 })).manifest.id;
    }
  }
  ({ ctx, server, base } = await start(''));
  adminToken = (await userWithToken(ctx.db, { name: 'admin', role: 'admin', siteId: 'north' })).token;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const get = (p: string, init?: RequestInit) => fetch(`${base}${p}`, init);
async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

describe.skipIf(!have)('slide metadata', () => {
  it('GET /api/slides/{id} has the manifest fields a viewer needs', async () => {
    const res = await get(`/api/slides/${ids[CMU]}`);
    expect(res.status).toBe(200);
    const s = (await res.json()) as SlideDto;
    expect(s).toMatchObject({
      id: ids[CMU],
      name: 'CMU-1-Small-Region',
      sourceFormat: 'aperio-svs',
      width: 2220,
      height: 2967,
      // The scanner's own 240 px tiles are kept (stored level 0 is its JPEG data).
      tileSize: 240,
      mppX: 0.499,
      mppY: 0.499,
      objectivePower: 20,
    });
    expect(s.associated).toEqual(expect.arrayContaining(['label', 'macro', 'thumbnail']));
    expect(Date.parse(s.createdAt)).not.toBeNaN();
  });
});

describe.skipIf(!have)('Deep Zoom', () => {
  it("the descriptor states size, the scanner's tile size (240), overlap 0, jpeg", async () => {
    const res = await get(`/slides/${ids[CMU]}.dzi`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/xml/);
    const xml = await res.text();
    expect(xml).toMatch(/TileSize="240"/);
    expect(xml).toMatch(/Overlap="0"/);
    expect(xml).toMatch(/Format="jpeg"/);
    expect(xml).toMatch(/Width="2220"/);
    expect(xml).toMatch(/Height="2967"/);
  });

  it('a full-resolution tile matches an independent decode of the source (vips + OpenSlide)', async () => {
    const top = dziLevelCount(2220, 2967) - 1;
    const res = await get(`/slides/${ids[CMU]}_files/${top}/3_5.jpeg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const got = await toRgb(sharp(Buffer.from(await res.arrayBuffer())));
    const ref = await vipsRegion(slidePath(CMU), 3 * 240, 5 * 240, 240, 240);
    expect(spread(ref)).toBeGreaterThan(5);
    for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(3);
  });

  it('a tile two levels down matches the source shrunk 4x', async () => {
    const top = dziLevelCount(2220, 2967) - 1;
    const res = await get(`/slides/${ids[CMU]}_files/${top - 2}/1_1.jpeg`);
    expect(res.status).toBe(200);
    const got = await toRgb(sharp(Buffer.from(await res.arrayBuffer())));
    const ref = boxDownsample(await vipsRegion(slidePath(CMU), 960, 960, 960, 960), 2);
    expect([got.width, got.height]).toEqual([240, 240]);
    for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(3);
  });

  it('every tile of an odd-sized slide (300 x 250) has exactly its Deep Zoom size, down to 1 x 1', async () => {
    const id = ids['generic-tiff/openslide-boxes.tiff']!;
    const levels = dziLevelCount(300, 250);
    for (let level = 0; level < levels; level++) {
      const size = dziLevelSize(300, 250, level);
      for (let row = 0; row * 256 < size.height; row++)
        for (let col = 0; col * 256 < size.width; col++) {
          const res = await get(`/slides/${id}_files/${level}/${col}_${row}.jpeg`);
          expect(res.status, `${level}/${col}_${row}`).toBe(200);
          const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
          expect([m.width, m.height], `${level}/${col}_${row}`).toEqual([
            Math.min(256, size.width - col * 256),
            Math.min(256, size.height - row * 256),
          ]);
        }
    }
  });

  it('304 when the client already has the tile', async () => {
    const url = `/slides/${ids[CMU]}_files/12/0_0.jpeg`;
    const first = await get(url);
    const etag = first.headers.get('etag')!;
    const again = await get(url, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
  });

  it('out-of-range tiles are 404, malformed ones 400 with a code', async () => {
    const id = ids[CMU]!;
    expect((await get(`/slides/${id}_files/12/99_0.jpeg`)).status).toBe(404);
    expect((await get(`/slides/${id}_files/40/0_0.jpeg`)).status).toBe(404);
    const bad = await get(`/slides/${id}_files/12/a_0.jpeg`);
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('INVALID_PARAMETER');
    expect((await get(`/slides/${'0'.repeat(32)}_files/0/0_0.jpeg`)).status).toBe(404);
    expect((await get(`/slides/${'0'.repeat(32)}.dzi`)).status).toBe(404);
  });
});

describe.skipIf(!have)('IIIF Image API 3', () => {
  it('info.json: id from the request, never a path; tiles and sizes', async () => {
    const res = await get(`/iiif/3/${ids[CMU]}/info.json`);
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown> & {
      tiles: { width: number; scaleFactors: number[] }[];
      sizes: { width: number }[];
    };
    expect(info.id).toBe(`${base}/iiif/3/${ids[CMU]}`);
    expect(JSON.stringify(info)).not.toContain(dataDir);
    expect(info).toMatchObject({
      type: 'ImageService3',
      protocol: 'http://iiif.io/api/image',
      profile: 'level2',
      width: 2220,
      height: 2967,
      maxWidth: 8192,
      maxHeight: 8192,
      maxArea: 4096 * 4096,
    });
    expect(info.tiles[0]!.width).toBe(240);
    expect(info.tiles[0]!.scaleFactors[0]).toBe(1);
    expect(info.sizes.length).toBeGreaterThan(0);
  });

  it.each([
    ['full/max/0/default.jpg', 'image/jpeg'],
    ['0,0,512,512/256,/0/default.jpg', 'image/jpeg'],
    ['pct:10,10,20,20/,100/90/gray.png', 'image/png'],
    ['square/!200,200/!180/color.webp', 'image/webp'],
    ['full/pct:5/270/default.jpg', 'image/jpeg'],
  ])('%s', async (p, type) => {
    const res = await get(`/iiif/3/${ids[CMU]}/${p}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('etag')).toBeTruthy();
  });

  /** Each size info.json lists, fetched as `full/w,h`: 200 and an image of exactly that size. */
  async function fetchEverySize(b: string, id: string): Promise<{ width: number; height: number }[]> {
    const info = (await (await fetch(`${b}/iiif/3/${id}/info.json`)).json()) as {
      sizes: { width: number; height: number }[];
    };
    expect(info.sizes.length).toBeGreaterThan(0);
    for (const z of info.sizes) {
      const res = await fetch(`${b}/iiif/3/${id}/full/${z.width},${z.height}/0/default.jpg`);
      expect(res.status, `${z.width},${z.height}`).toBe(200);
      const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([m.width, m.height]).toEqual([z.width, z.height]);
    }
    return info.sizes;
  }

  it('every size info.json lists is served at exactly that size', async () => {
    const sizes = await fetchEverySize(base, ids[CMU]!);
    expect(sizes.at(-1)).toEqual({ width: 2220, height: 2967 });
  });

  it('with limits below the slide, sizes lists only what is served (level 0 and 1 would be 400)', async () => {
    const tight = await start('', { iiifMaxWidth: 1500, iiifMaxHeight: 1500, iiifMaxArea: 1_000_000 });
    try {
      const sizes = await fetchEverySize(tight.base, ids[CMU]!);
      expect(sizes.at(-1)).toEqual({ width: 555, height: 741 });
      for (const z of ['2220,2967', '1110,1483']) {
        const res = await fetch(`${tight.base}/iiif/3/${ids[CMU]}/full/${z}/0/default.jpg`);
        expect(res.status, z).toBe(400);
      }
    } finally {
      await new Promise((r) => tight.server.close(r));
      await tight.ctx.tiles.close();
      await tight.ctx.db.destroy();
    }
  });

  it.each([
    'abc',
    'ABCDEF0123456789ABCDEF0123456789',
    '0123456789abcdef0123456789abcde',
    `${'a'.repeat(32)}x`,
    'cases',
  ])('a malformed identifier is 404, as for an unknown image: %s', async (bad) => {
    for (const p of [`/iiif/3/${bad}/info.json`, `/iiif/3/${bad}/full/max/0/default.jpg`, `/iiif/3/${bad}`]) {
      const res = await get(p, { redirect: 'manual' });
      expect(res.status, p).toBe(404);
      expect(await errorCode(res), p).toBe('SLIDE_NOT_FOUND');
    }
    expect((await get(`/iiif/3/${bad}/manifest.json`)).status).toBe(404);
  });

  it('a request aligned with a stored tile is the same bytes as the Deep Zoom tile', async () => {
    const iiif = Buffer.from(
      await (await get(`/iiif/3/${ids[CMU]}/240,480,240,240/240,240/0/default.jpg`)).arrayBuffer(),
    );
    const dzi = Buffer.from(await (await get(`/slides/${ids[CMU]}_files/12/1_2.jpeg`)).arrayBuffer());
    expect(iiif.equals(dzi)).toBe(true);
  });

  it.each([
    'full/max/45/default.jpg',
    'full/max/0/bitonal.jpg',
    'full/max/0/default.gif',
    '0,0,-5,10/max/0/default.jpg',
    '99999,0,10,10/max/0/default.jpg',
    'full/0,/0/default.jpg',
    'full/99999999,/0/default.jpg',
    'full/^4097,4096/0/default.jpg',
    '0,0,100,100/^201,/0/default.jpg',
  ])('bad parameters are 400 with a code: %s', async (p) => {
    const res = await get(`/iiif/3/${ids[CMU]}/${p}`);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('INVALID_PARAMETER');
  });
});

describe.skipIf(!have)('thumbnails and associated images', () => {
  it('thumbnail?max=200 fits 200 px', async () => {
    const res = await get(`/api/slides/${ids[CMU]}/thumbnail?max=200`);
    expect(res.status).toBe(200);
    const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect(Math.max(m.width, m.height)).toBe(200);
  });
  it('thumbnail?max=0 is a 400', async () => {
    expect((await get(`/api/slides/${ids[CMU]}/thumbnail?max=0`)).status).toBe(400);
  });
  it('label and macro of an SVS; 404 where the slide has none; 400 for other names', async () => {
    const label = await get(`/api/slides/${ids[CMU]}/associated/label`);
    expect(label.status).toBe(200);
    const m = await sharp(Buffer.from(await label.arrayBuffer())).metadata();
    expect([m.width, m.height]).toEqual([387, 463]);
    expect((await get(`/api/slides/${ids[CMU]}/associated/macro`)).status).toBe(200);
    expect(
      (await get(`/api/slides/${ids['dicom/wsi-to-dicom-converter-jpeg.dcm']}/associated/label`)).status,
    ).toBe(404);
    expect((await get(`/api/slides/${ids[CMU]}/associated/manifest`)).status).toBe(400);
  });
});

describe('no request reaches a path outside the store', () => {
  it.each([
    '/slides/..%2F..%2F..%2Fetc%2Fpasswd.dzi',
    '/slides/../../etc/passwd.dzi',
    '/slides/%2Fetc%2Fpasswd_files/0/0_0.jpeg',
    '/slides/..%2Fslides_files/0/0_0.jpeg',
    '/iiif/3/..%2F..%2Fetc%2Fpasswd/info.json',
    '/iiif/3/%2Fetc%2Fpasswd/full/max/0/default.jpg',
    '/iiif/3/abc%00def/info.json',
    '/api/slides/%2Fetc%2Fpasswd/thumbnail',
    `/api/slides/${'a'.repeat(32)}/associated/..%2F..%2Fmanifest.json`,
    `/api/slides/${'a'.repeat(32)}/associated/%00label`,
  ])('%s', async (p) => {
    const res = await get(p);
    expect([400, 404]).toContain(res.status);
    const text = await res.text();
    expect(text).not.toMatch(/root:|formatVersion/);
  });
});

describe.skipIf(!have)('CORS', () => {
  const ORIGIN = { Origin: 'http://viewer.example' };
  /** Deep Zoom and IIIF: descriptor, tiles (fast path and Express), info.json, images, manifest. */
  const imageRoutes = (): string[] => [
    `/slides/${ids[CMU]}.dzi`,
    `/slides/${ids[CMU]}_files/12/0_0.jpeg`,
    `/iiif/3/${ids[CMU]}/info.json`,
    `/iiif/3/${ids[CMU]}/0,0,240,240/240,/0/default.jpg`,
    `/iiif/3/${ids[CMU]}/manifest.json`,
  ];
  const apiRoutes = (): string[] => [
    '/api/slides',
    `/api/slides/${ids[CMU]}`,
    `/api/slides/${ids[CMU]}/thumbnail?max=64`,
    `/api/slides/${ids[CMU]}/associated/label`,
    '/api/auth/state',
    '/api/config',
  ];

  it('Deep Zoom and IIIF routes answer any origin with *, without configuration; the API does not', async () => {
    for (const p of imageRoutes()) {
      const res = await get(p, { headers: ORIGIN });
      expect(res.status, p).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      expect(res.headers.get('access-control-allow-credentials'), p).toBeNull();
      expect(res.headers.get('access-control-expose-headers'), p).toMatch(/ETag/);
    }
    // Errors too, so a viewer elsewhere can read why.
    const missing = await get(`/iiif/3/${'0'.repeat(32)}/info.json`, { headers: ORIGIN });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
    for (const p of apiRoutes()) {
      const res = await get(p, { headers: ORIGIN });
      expect(res.headers.get('access-control-allow-origin'), p).toBeNull();
    }
  });

  it('a preflight for a bearer-token request to an image route is allowed, without signing in', async () => {
    for (const p of imageRoutes()) {
      const res = await globalThis.fetch(`${base}${p}`, {
        method: 'OPTIONS',
        headers: {
          ...ORIGIN,
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'authorization',
        },
      });
      expect(res.status, p).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      expect(res.headers.get('access-control-allow-methods'), p).toMatch(/\bGET\b/);
      // A `*` in Allow-Headers would not cover Authorization: it must be named.
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase(), p).toMatch(/\bauthorization\b/);
    }
    // An API preflight from an origin nobody configured is not allowed.
    const api = await globalThis.fetch(`${base}/api/slides`, {
      method: 'OPTIONS',
      headers: { ...ORIGIN, 'Access-Control-Request-Method': 'GET' },
    });
    expect(api.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('configured origins are named on the API (never *); image routes stay * for every origin', async () => {
    const other = await start('http://viewer.example, http://lims.example');
    try {
      for (const p of apiRoutes()) {
        const res = await fetch(`${other.base}${p}`, { headers: ORIGIN });
        expect(res.headers.get('access-control-allow-origin'), p).toBe('http://viewer.example');
        expect(res.headers.get('vary'), p).toMatch(/Origin/);
        const no = await fetch(`${other.base}${p}`, { headers: { Origin: 'http://evil.example' } });
        expect(no.headers.get('access-control-allow-origin'), p).toBeNull();
      }
      const pre = await globalThis.fetch(`${other.base}/api/slides`, {
        method: 'OPTIONS',
        headers: { ...ORIGIN, 'Access-Control-Request-Method': 'GET' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('http://viewer.example');
      for (const p of imageRoutes()) {
        const res = await fetch(`${other.base}${p}`, { headers: { Origin: 'http://evil.example' } });
        expect(res.status, p).toBe(200);
        expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      }
    } finally {
      await new Promise((r) => other.server.close(r));
      await other.ctx.tiles.close();
      await other.ctx.db.destroy();
    }
  });

  it('* is refused as an API origin', () => {
    for (const corsOrigins of ['*', 'http://viewer.example, *'])
      expect(() => loadConfig({ dataDir, corsOrigins }, {})).toThrow(/'\*' is not allowed/);
  });
});
