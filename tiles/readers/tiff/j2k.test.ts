import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { isSlideError } from '../../errors.ts';
import type { SlideSource } from '../types.ts';
import { intermediatePixels, retile } from './intermediate.ts';
import { decodeJ2kTile } from './j2k.ts';
import { buildTiff, cutTiles, encodeJ2k, meanAbsDiff, openWithTiffReaders, rgbToYcbcr } from './test-tiff.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-j2k-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const W = 500;
const H = 300;

/** Smooth colour waves plus a fine checker: placement errors and colour-matrix errors both show. */
function pattern(w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const check = ((x >> 3) + (y >> 3)) % 2 === 0 ? 20 : 0;
      px[i] = 128 + Math.round(100 * Math.sin(x / 37)) + (check >> 1);
      px[i + 1] = 120 + Math.round(90 * Math.cos(y / 23)) - (check >> 1);
      px[i + 2] = 100 + Math.round(60 * Math.sin((x + y) / 51)) + check;
    }
  return px;
}

/**
 * An Aperio-style SVS with JPEG 2000 tiles: level 0 (compression 33003 YCbCr or 33005 RGB), a J2K
 * thumbnail strip and an uncompressed label, with Aperio descriptions.
 */
async function makeJ2kSvs(
  file: string,
  compression: 33003 | 33005,
  tw: number,
  th: number,
  W = 500,
  H = 300,
): Promise<Buffer> {
  const px = pattern(W, H);
  const enc = (rgb: Buffer, w: number, h: number): Promise<Buffer> =>
    encodeJ2k(compression === 33003 ? rgbToYcbcr(rgb) : rgb, w, h, 3);
  const tiles = await Promise.all(cutTiles(px, W, H, 3, tw, th).map((t) => enc(t, tw, th)));
  const thumb = await sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .resize(100, 60)
    .raw()
    .toBuffer();
  const label = Buffer.alloc(64 * 32 * 3, 180);
  const desc = `Aperio Image Library v11.0.37\r\n${W}x${H} (${tw}x${th}) J2K/KDU Q=70|AppMag = 40|MPP = 0.2520|ScanScope ID = TEST`;
  writeFileSync(
    file,
    buildTiff([
      { width: W, height: H, tile: [tw, th], chunks: tiles, compression, description: desc },
      {
        width: 100,
        height: 60,
        chunks: [await enc(thumb, 100, 60)],
        compression,
        description: `Aperio Image Library v11.0.37\r\n${W}x${H} -> 100x60 - |AppMag = 40`,
      },
      {
        width: 64,
        height: 32,
        chunks: [label],
        description: 'Aperio Image Library v11.0.37\nlabel 64x32',
        newSubfileType: 1,
      },
    ]),
  );
  return px;
}

async function allPixels(slide: SlideSource): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmp, 'px-'));
  const { data, info } = await (
    await slide.pixels({ tmpDir: dir })
  )
    .raw()
    .toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([slide.width, slide.height, 3]);
  return data;
}

describe('decodeJ2kTile', () => {
  it('converts YCbCr components (33003) to RGB with the full-range BT.601 matrix', async () => {
    const colours: [number, number, number][] = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [230, 180, 200],
      [20, 20, 20],
    ];
    const rgb = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) rgb.set(colours[Math.floor(i / 64 / 13)]!, i * 3);
    const decoded = await decodeJ2kTile(await encodeJ2k(rgbToYcbcr(rgb), 64, 64, 3), 64, 64, true);
    for (const d of meanAbsDiff(decoded, rgb, 3)) expect(d).toBeLessThan(1.5);
  });

  it('pads a codestream smaller than the tile with white', async () => {
    const grey = Buffer.alloc(64 * 64, 90);
    const decoded = await decodeJ2kTile(await encodeJ2k(grey, 64, 64, 1), 80, 70, false);
    expect(decoded.length).toBe(80 * 70 * 3);
    expect([...decoded.subarray(0, 3)]).toEqual([90, 90, 90]);
    expect([...decoded.subarray((69 * 80 + 79) * 3)]).toEqual([255, 255, 255]);
  });

  it('rejects garbage as undecodable rather than returning a stale frame', async () => {
    await decodeJ2kTile(await encodeJ2k(Buffer.alloc(64 * 64 * 3, 50), 64, 64, 3), 64, 64, false);
    await expect(decodeJ2kTile(Buffer.alloc(200, 7), 64, 64, false)).rejects.toThrow(/codestream/);
  });

  it('refuses chroma-subsampled codestreams, which the decoder would interleave wrongly', async () => {
    const cs = await encodeJ2k(Buffer.alloc(64 * 64 * 3, 50), 64, 64, 3);
    cs[42 + 3 + 1] = 2; // XRsiz of component 1 in the SIZ marker
    const err = await decodeJ2kTile(cs, 64, 64, true).catch((e: unknown) => e);
    expect(isSlideError(err) && err.code).toBe('UNSUPPORTED_FORMAT');
  });
});

describe('Aperio SVS with JPEG 2000 tiles (self-made fixture)', () => {
  const cases: [string, 33003 | 33005, number, number, number, number][] = [
    ['YCbCr (33003), 240 x 240 tiles', 33003, 240, 240, W, H],
    ['RGB (33005), 240 x 240 tiles', 33005, 240, 240, W, H],
    ['RGB (33005), 200 x 120 tiles (not a multiple of 16: re-tiled)', 33005, 200, 120, W, H],
    ['RGB (33005), one 128 x 128 tile larger than the 40 x 30 image', 33005, 128, 128, 40, 30],
  ];
  for (const [what, compression, tw, th, w, h] of cases) {
    it(`${what}: pixels() matches the encoded image`, async () => {
      const file = path.join(tmp, `j2k-${compression}-${tw}-${w}.svs`);
      const px = await makeJ2kSvs(file, compression, tw, th, w, h);
      const slide = await openWithTiffReaders(file);
      try {
        expect(slide.format).toBe('aperio-svs');
        expect([slide.width, slide.height, slide.mppX, slide.objectivePower]).toEqual([w, h, 0.252, 40]);
        expect(slide.levels[0]).toMatchObject({ tileWidth: tw, tileHeight: th });
        const got = await allPixels(slide);
        // Reversible coding: RGB is exact; YCbCr loses only the rounding of the colour conversion.
        const limit = compression === 33005 ? 0.001 : 1;
        for (const d of meanAbsDiff(got, px, 3)) expect(d).toBeLessThan(limit);
      } finally {
        await slide.close();
      }
    });
  }

  it('decodes a J2K thumbnail and an uncompressed label as associated images', async () => {
    const file = path.join(tmp, 'j2k-assoc.svs');
    const px = await makeJ2kSvs(file, 33003, 240, 240);
    const slide = await openWithTiffReaders(file);
    try {
      expect([...slide.associated].sort()).toEqual(['label', 'thumbnail']);
      const thumb = await sharp((await slide.associatedImage('thumbnail'))!)
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([thumb.info.width, thumb.info.height]).toEqual([100, 60]);
      const ref = await sharp(px, { raw: { width: W, height: H, channels: 3 } })
        .resize(100, 60)
        .raw()
        .toBuffer();
      for (const d of meanAbsDiff(thumb.data, ref, 3)) expect(d).toBeLessThan(1.5);
      const label = await sharp((await slide.associatedImage('label'))!).metadata();
      expect([label.width, label.height]).toEqual([64, 32]);
    } finally {
      await slide.close();
    }
  });

  it('reports an undecodable tile as CORRUPT_FILE naming the tile', async () => {
    const file = path.join(tmp, 'j2k-bad-tile.svs');
    const good = await encodeJ2k(Buffer.alloc(240 * 240 * 3, 100), 240, 240, 3);
    writeFileSync(
      file,
      buildTiff([
        {
          width: 480,
          height: 240,
          tile: [240, 240],
          chunks: [good, Buffer.alloc(300, 9)],
          compression: 33005,
          description: 'Aperio Image Library v11\r\n480x240|MPP = 0.5',
        },
      ]),
    );
    const slide = await openWithTiffReaders(file);
    try {
      const err = await allPixels(slide).catch((e: unknown) => e);
      expect(isSlideError(err) && err.code).toBe('CORRUPT_FILE');
      expect(String((err as Error).message)).toMatch(
        /j2k-bad-tile\.svs: JPEG 2000 tile 1,0 of IFD 0 cannot be decoded/,
      );
    } finally {
      await slide.close();
    }
  });
});

describe('intermediate image', () => {
  it('stores JPEG tiles (quality 95, no chroma subsampling) beyond the raw size limit, within 2 levels', async () => {
    const px = pattern(W, H);
    const tiles = cutTiles(px, W, H, 3, 256, 256);
    const src = retile(W, H, 256, 256, async (c, r) => tiles[r * 2 + c]!);
    const img = await intermediatePixels(src, { tmpDir: tmp }, { stage: 'test', rawMaxBytes: 0 });
    const { data } = await img.raw().toBuffer({ resolveWithObject: true });
    for (const d of meanAbsDiff(data, px, 3)) expect(d).toBeLessThan(2);
  });
});
