/**
 * Signed 8- and 16-bit and 32-bit float OME-TIFF channels, against unsigned files holding the same
 * data shifted or scaled. The fixtures are written at test time by tifffile (an OME-TIFF writer of its
 * own, not ours) through Debian's python3-tifffile; see FIXTURES below.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSlideError } from '../../errors.ts';
import { ingest } from '../../ingest/index.ts';
import { LocalSlideStore } from '../../store/local.ts';
import type { SlideSource } from '../types.ts';
import { floatPercentiles, quantise } from './render.ts';
import { meanAbsDiff, openWithTiffReaders } from './test-tiff.ts';

const PYTHON = '/usr/bin/python3';

/**
 * Every fixture shares one 160 x 120 image `base8` (a left-to-right ramp 10..245 with noise), stored as:
 * uint8 base8; int8 base8 - 128; float32 base8 / 255 and (base8 - 128) / 1000. The 16-bit pair has two
 * channels (a ramp over the full range with noise, and a vertical ramp), tiled 64 x 64, deflate, with a
 * SubIFD level: uint16 v and int16 v - 32768. int16-specks: positive values with six negative pixels
 * (0.03%, too few to move the window). int32: a kind still refused.
 */
const FIXTURES = String.raw`
import sys
import numpy as np
import tifffile

out = sys.argv[1]
rng = np.random.RandomState(13)
H, W = 120, 160
y, x = np.mgrid[0:H, 0:W]
base8 = np.clip(10 + x * 235 / (W - 1) + rng.normal(0, 8, (H, W)), 0, 255).round().astype(np.uint8)

def ome(name, data, **kw):
    tifffile.imwrite(f'{out}/{name}.ome.tif', data[None], photometric='minisblack',
                     metadata={'axes': 'CYX'}, **kw)

ome('uint8', base8)
ome('int8', (base8.astype(np.int16) - 128).astype(np.int8))
ome('float32', (base8 / 255).astype(np.float32))
ome('float32-small', ((base8.astype(np.float64) - 128) / 1000).astype(np.float32))

c0 = np.clip(x * 65535 // (W - 1) + rng.randint(-400, 400, (H, W)), 0, 65535)
c1 = 2000 + y * 300
base16 = np.stack([c0, c1]).astype(np.int64)

def pyramid(name, data):
    meta = {'axes': 'CYX', 'Channel': {'Name': ['DAPI', 'CD8']}}
    with tifffile.TiffWriter(f'{out}/{name}.ome.tif') as tw:
        tw.write(data, photometric='minisblack', metadata=meta, tile=(64, 64),
                 compression='zlib', subifds=1)
        tw.write(data[:, ::2, ::2], photometric='minisblack', tile=(64, 64),
                 compression='zlib', subfiletype=1)

pyramid('uint16', base16.astype(np.uint16))
pyramid('int16', (base16 - 32768).astype(np.int16))

specks = (1000 + x * 100).astype(np.int16)
for (sy, sx, v) in [(10, 150, -1), (20, 140, -5), (30, 130, -300), (60, 120, -20000), (90, 155, -32768), (100, 145, -2)]:
    specks[sy, sx] = v
ome('int16-specks', specks)
ome('int32', x.astype(np.int32))
`;

/** Specks of int16-specks: [x, y]; their neighbours are bright (>= 13,000 of a 1,000..16,900 ramp). */
const SPECKS: [number, number][] = [
  [150, 10],
  [140, 20],
  [130, 30],
  [120, 60],
  [155, 90],
  [145, 100],
];

/**
 * Debian's python3-tifffile writes the fixtures. In CI it must be there (.ci/run installs it); elsewhere
 * the tests skip with a message saying why.
 */
function haveTifffile(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import tifffile, numpy'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const why = `${PYTHON} cannot import tifffile and numpy (Debian package python3-tifffile)`;
  if (process.env.CI === 'true') throw new Error(`fixture writer missing: ${why}`);
  console.warn(`skipping: ${why}`);
  return false;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-kinds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fixture = (name: string): string => path.join(tmp, `${name}.ome.tif`);

interface Rendered {
  slide: SlideSource;
  rgb: Buffer;
  windows: { lo: number; hi: number }[];
}

const NUM = String.raw`-?\d+(?:\.\d+)?(?:e[-+]?\d+)?`;

/** Open a fixture, render it, and read back the windows its `rendering` text reports. */
async function render(name: string): Promise<Rendered> {
  const slide = await openWithTiffReaders(fixture(name));
  try {
    const { data, info } = await (
      await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) })
    )
      .raw()
      .toBuffer({ resolveWithObject: true });
    // 8-bit RGB: one byte per sample (sharp's raw output keeps the pipeline's depth).
    expect([info.width, info.height, info.channels]).toEqual([slide.width, slide.height, 3]);
    expect(data.length).toBe(slide.width * slide.height * 3);
    const windows = [
      ...(slide.rendering ?? '').matchAll(new RegExp(`\\((${NUM})\\.\\.(${NUM})\\)`, 'g')),
    ].map((m) => ({ lo: Number(m[1]), hi: Number(m[2]) }));
    return { slide, rgb: data, windows };
  } finally {
    await slide.close();
  }
}

const pixel = (r: Rendered, x: number, y: number): number[] => {
  const at = (y * r.slide.width + x) * 3;
  return [...r.rgb.subarray(at, at + 3)];
};

describe.skipIf(!haveTifffile())('OME-TIFF channels of other sample kinds (tifffile fixtures)', () => {
  const rendered = new Map<string, Rendered>();
  const get = (name: string): Rendered => rendered.get(name)!;

  beforeAll(async () => {
    const r = spawnSync(PYTHON, ['-c', FIXTURES, tmp], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`writing the fixtures failed: ${r.stderr || r.error?.message}`);
    const names = ['uint8', 'int8', 'float32', 'float32-small', 'uint16', 'int16', 'int16-specks'];
    for (const name of names) rendered.set(name, await render(name));
  });

  it('signed 8-bit renders like unsigned 8-bit data + 128: the same window, shifted', () => {
    const u = get('uint8');
    const s = get('int8');
    expect(s.slide.format).toBe('ome-tiff');
    expect(s.slide.properties['ome.Pixels.Type']).toBe('int8');
    expect(s.slide.rendering).toMatch(/^1 signed 8-bit channel shown as grey/);
    expect(u.slide.rendering).toMatch(/^1 8-bit channel shown as grey/);
    expect(s.windows).toEqual(u.windows.map((w) => ({ lo: w.lo - 128, hi: w.hi - 128 })));
    expect(s.windows[0]!.lo).toBeLessThan(0);
    for (const d of meanAbsDiff(s.rgb, u.rgb, 3)) expect(d).toBeLessThan(0.5);
    // The window spans the ramp: its dark end is black, its bright end white.
    expect(pixel(s, 0, 60)).toEqual([0, 0, 0]);
    expect(pixel(s, 159, 60)).toEqual([255, 255, 255]);
  });

  it('signed 16-bit (tiled, deflate, SubIFD level) renders like unsigned 16-bit data + 32768', () => {
    const u = get('uint16');
    const s = get('int16');
    expect(s.slide.levels.map((l) => [l.width, l.height])).toEqual([
      [160, 120],
      [80, 60],
    ]);
    expect(s.slide.rendering).toMatch(/^2 signed 16-bit channels mixed additively.*DAPI -> #0000ff/);
    expect(s.windows).toHaveLength(2);
    expect(s.windows).toEqual(u.windows.map((w) => ({ lo: w.lo - 32768, hi: w.hi - 32768 })));
    for (const d of meanAbsDiff(s.rgb, u.rgb, 3)) expect(d).toBeLessThan(0.5);
    // Both channels vary across the image (neither rendered flat by a misread sign).
    expect(pixel(s, 2, 2)[2]).toBeLessThan(30); // DAPI (blue) dark at the left
    expect(pixel(s, 157, 2)[2]).toBeGreaterThan(225);
    expect(pixel(s, 80, 2)[1]).toBeLessThan(30); // CD8 (green) dark at the top
    expect(pixel(s, 80, 117)[1]).toBeGreaterThan(225);
  });

  it('negative samples fall below the window and render black, not white as two\u2019s complement read unsigned', () => {
    const s = get('int16-specks');
    const [w] = s.windows;
    expect(w!.lo).toBeGreaterThanOrEqual(1000);
    for (const [x, y] of SPECKS) {
      expect(pixel(s, x, y)).toEqual([0, 0, 0]);
      expect(pixel(s, x - 1, y)[0]).toBeGreaterThan(180);
    }
  });

  it('32-bit float in [0, 1] renders like 8-bit data x 255, and a negative float range likewise', () => {
    const u = get('uint8');
    for (const [name, scale, shift] of [
      ['float32', 255, 0],
      ['float32-small', 1000, 128],
    ] as const) {
      const f = get(name);
      expect(f.slide.properties['ome.Pixels.Type']).toBe('float');
      expect(f.slide.rendering).toMatch(/^1 32-bit floating-point channel shown as grey/);
      expect(f.windows[0]!.lo * scale + shift).toBeCloseTo(u.windows[0]!.lo, 2);
      expect(f.windows[0]!.hi * scale + shift).toBeCloseTo(u.windows[0]!.hi, 2);
      for (const d of meanAbsDiff(f.rgb, u.rgb, 3)) expect(d).toBeLessThan(0.5);
    }
    expect(get('float32-small').windows[0]!.lo).toBeLessThan(0);
  });

  it('a signed 8-bit OME-TIFF is ingested (it used to be refused), into the pyramid of its uint8 twin', async () => {
    const store = new LocalSlideStore(mkdtempSync(path.join(tmp, 'store-')));
    const level0 = async (name: string): Promise<Buffer> => {
      const { manifest } = await ingest(fixture(name), store, { tileSize: 256, jpegQuality: 92 });
      expect([manifest.width, manifest.height]).toEqual([160, 120]);
      const stored = store.localPath(manifest.id, 'slide.tif')!;
      return sharp(stored, { page: 0 }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    };
    const signed = await level0('int8');
    for (const d of meanAbsDiff(signed, await level0('uint8'), 3)) expect(d).toBeLessThan(0.5);
  });

  it('other kinds are refused with a message naming what is read', async () => {
    const err = await openWithTiffReaders(fixture('int32')).catch((e: unknown) => e);
    expect(isSlideError(err) && err.code).toBe('UNSUPPORTED_FORMAT');
    expect((err as Error).message).toMatch(
      /32-bit signed channels are not supported \(8- and 16-bit integer, signed or unsigned, and 32-bit floating-point are\)/,
    );
  });
});

describe('float statistics and quantisation', () => {
  it('takes float percentiles by rank, like the integer histogram, leaving out NaN and infinities', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => (999 - i) / 4);
    const withJunk = Float32Array.from([...v, NaN, Infinity, -Infinity]);
    expect(floatPercentiles(withJunk, [0.1, 50, 99.9])).toEqual([0, 124.75, 249.5]);
    expect(floatPercentiles(Float32Array.from([NaN, NaN]), [50])).toBeNull();
  });

  it('quantises floats across the window: below it and NaN to 0, above it to the top step', () => {
    const q = quantise(Float32Array.from([-1, 0.25, 0.5, 0.75, 2, NaN, -Infinity, Infinity]), {
      lo: 0.25,
      hi: 0.75,
    });
    expect([...q]).toEqual([0, 0, 32768, 65535, 65535, 0, 0, 65535]);
  });
});
