import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromFile } from 'geotiff';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { resolutionMpp } from './common.ts';
import {
  buildTiff,
  cutTiles,
  meanAbsDiff,
  openWithTiffReaders,
  type TagSpec,
  type TestIfd,
} from './test-tiff.ts';
import { TiffFile } from '../../tiff/file.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-generic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, ifds: TestIfd[]): string {
  const file = path.join(tmp, name);
  writeFileSync(file, buildTiff(ifds));
  return file;
}

async function pixelsOf(
  file: string,
): Promise<{ data: Buffer; width: number; height: number; rendering: string | null }> {
  const slide = await openWithTiffReaders(file);
  try {
    const img = await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) });
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    return { data, width: info.width, height: info.height, rendering: slide.rendering };
  } finally {
    await slide.close();
  }
}

describe.skipIf(!requireSlides())('generic pyramidal TIFF sample (openslide boxes.tiff)', () => {
  const file = slidePath('generic-tiff/openslide-boxes.tiff');

  it('finds the 4 levels, with downsamples that are not exact powers of two', async () => {
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.format).toBe('generic-tiff');
      expect(slide.levels.map((l) => [l.width, l.height, l.tileWidth])).toEqual([
        [300, 250, 64],
        [150, 125, 64],
        [75, 62, 64],
        [37, 31, 64],
      ]);
      expect(slide.levels[3]?.downsample).toBeCloseTo(300 / 37, 6);
      // 28.35 px/cm is the 72 dpi every image library writes by default, not a measurement.
      expect(slide.mppX).toBeNull();
      expect(slide.associated).toEqual([]);
    } finally {
      await slide.close();
    }
  });

  it('matches an independent decode (geotiff, deflate + predictor) pixel for pixel', async () => {
    const { data, width, height } = await pixelsOf(file);
    const tiff = await fromFile(file);
    const ref = (await (await tiff.getImage(0)).readRasters({ interleave: true })) as Uint8Array;
    expect(ref.length).toBe(width * height * 3);
    for (const d of meanAbsDiff(data, ref, 3)) expect(d).toBeLessThan(3);
  });
});

describe('µm per pixel from resolution tags', () => {
  const res = (unit: number | null, x: number, y = x): TagSpec[] => [
    { tag: 282, type: 'rational', values: [x] },
    { tag: 283, type: 'rational', values: [y] },
    ...(unit === null ? [] : [{ tag: 296, type: 'short' as const, values: [unit] }]),
  ];
  const cases: [string, TagSpec[], number | null][] = [
    ['centimetre: 10000 / res', res(3, 20_000), 0.5],
    ['inch: 25400 / res', res(2, 101_600), 0.25],
    ['unit none', res(1, 20_000), null],
    ['no unit tag', res(null, 20_000), null],
    ['72 dpi placeholder', res(2, 72), null],
    ['72 dpi placeholder in px/cm', res(3, 28.346), null],
  ];
  for (const [what, extra, want] of cases) {
    it(what, async () => {
      const file = write(`res-${what.replace(/\W/g, '')}.tif`, [
        { width: 8, height: 8, chunks: [Buffer.alloc(8 * 8 * 3)], extra },
      ]);
      const tf = await TiffFile.open(file);
      try {
        const mpp = resolutionMpp(tf.ifds[0]!);
        if (want === null) expect(mpp.x).toBeNull();
        else expect(mpp.x).toBeCloseTo(want, 4);
      } finally {
        await tf.close();
      }
    });
  }
});

describe('sample layouts become 3-band 8-bit RGB', () => {
  it('stretches 16-bit greyscale between its 0.1 and 99.9 percentiles', async () => {
    const w = 200;
    const h = 100;
    const px = Buffer.alloc(w * h * 2);
    // A 12-bit ramp, as a fluorescence camera writes it: linear /256 scaling would leave it near black.
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) px.writeUInt16LE(Math.round((x / (w - 1)) * 4095), (y * w + x) * 2);
    const file = write('grey16.tif', [
      { width: w, height: h, samplesPerPixel: 1, bitsPerSample: 16, chunks: [px] },
    ]);
    const { data, rendering } = await pixelsOf(file);
    expect(rendering).toMatch(/grey.*0\.1 and 99\.9 percentiles/);
    expect(data[0]).toBeLessThan(5);
    expect(data[(w - 1) * 3]).toBeGreaterThan(250);
    expect(data[100 * 3]).toBeGreaterThan(110);
    expect(data[100 * 3]).toBeLessThan(145);
    expect(data[100 * 3]).toBe(data[100 * 3 + 2]);
  });

  it('replicates 8-bit greyscale into three equal bands', async () => {
    const px = Buffer.alloc(64 * 32);
    for (let i = 0; i < px.length; i++) px[i] = i % 64;
    const { data } = await pixelsOf(
      write('grey8.tif', [{ width: 64, height: 32, samplesPerPixel: 1, chunks: [px] }]),
    );
    expect([...data.subarray(33 * 3, 33 * 3 + 3)]).toEqual([33, 33, 33]);
  });

  it('composites RGBA on white: transparent areas are glass', async () => {
    const px = Buffer.alloc(32 * 16 * 4);
    for (let i = 0; i < 32 * 16; i++) px.set(i % 32 < 16 ? [200, 40, 60, 255] : [10, 10, 10, 0], i * 4);
    const file = write('rgba.tif', [
      {
        width: 32,
        height: 16,
        samplesPerPixel: 4,
        chunks: [px],
        extra: [{ tag: 338, type: 'short', values: [2] }],
      },
    ]);
    const { data } = await pixelsOf(file);
    expect([...data.subarray(0, 3)]).toEqual([200, 40, 60]);
    expect([...data.subarray(20 * 3, 20 * 3 + 3)]).toEqual([255, 255, 255]);
  });

  it('reads a tiled pyramid stored in SubIFDs, and ignores a trailing page of another shape', async () => {
    const rgb = (w: number, h: number, v: number): Buffer => Buffer.alloc(w * h * 3, v);
    const file = write('subifd.tif', [
      {
        width: 256,
        height: 128,
        tile: [64, 64],
        chunks: cutTiles(rgb(256, 128, 90), 256, 128, 3, 64, 64),
        subIfds: [
          {
            width: 128,
            height: 64,
            tile: [64, 64],
            chunks: cutTiles(rgb(128, 64, 90), 128, 64, 3, 64, 64),
            newSubfileType: 1,
          },
          {
            width: 64,
            height: 32,
            tile: [64, 64],
            chunks: cutTiles(rgb(64, 32, 90), 64, 32, 3, 64, 64),
            newSubfileType: 1,
          },
        ],
      },
      { width: 100, height: 100, chunks: [rgb(100, 100, 0)] },
    ]);
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [256, 128, 1],
        [128, 64, 2],
        [64, 32, 4],
      ]);
    } finally {
      await slide.close();
    }
  });

  it('reads a stripped (untiled) image, reporting the strip as its tile', async () => {
    const px = Buffer.alloc(40 * 30 * 3, 77);
    const file = write('strips.tif', [
      { width: 40, height: 30, rowsPerStrip: 8, chunks: cutTiles(px, 40, 30, 3, 40, 8) },
    ]);
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.levels[0]).toMatchObject({ tileWidth: 40, tileHeight: 8 });
      const { data } = await (
        await slide.pixels({ tmpDir: tmp })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect(data.every((v) => v === 77)).toBe(true);
    } finally {
      await slide.close();
    }
  });
});
