import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLASS, isTissue, makeSyntheticSlide, slideLayout, type SyntheticSlide } from './make-huge-slide.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const WIDTH = 70_000;
const HEIGHT = 2_000;
const TILE = 512;
const SEED = 7;

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd: REPO_ROOT }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );
}

/** Debian's tifffile, an outside reader; in CI its absence is a failure, not a skip. */
async function tifffileMissing(): Promise<string | null> {
  const r = await run(PYTHON, ['-c', 'import tifffile']);
  if (r.code === 0) return null;
  const why = `${PYTHON} has no tifffile (apt-get install python3-tifffile)`;
  if (process.env.CI === 'true') throw new Error(why);
  return why;
}

/** Mean R, G, B of one tile's area, decoded by libvips from the TIFF. */
async function tileMean(file: string, col: number, row: number): Promise<number[]> {
  const left = col * TILE;
  const top = row * TILE;
  // sharp's stats() looks at the whole input, not the extract: decode the region and average it here.
  const { data, info } = await sharp(file, { limitInputPixels: false })
    .extract({ left, top, width: Math.min(TILE, WIDTH - left), height: Math.min(TILE, HEIGHT - top) })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) {
    for (let c = 0; c < 3; c++) sum[c]! += data[i + c]!;
  }
  return sum.map((s) => s / (info.width * info.height));
}

describe('synthetic slide of any size (scripts/bench/make-huge-slide.ts)', () => {
  let dir = '';
  let file = '';
  let slide: SyntheticSlide;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-huge-'));
    file = path.join(dir, 'wide.tif');
    slide = await makeSyntheticSlide(file, { width: WIDTH, height: HEIGHT, seed: SEED });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is wider than the 65,535 px JPEG limit, and libvips reads its size and scale', async () => {
    const meta = await sharp(file, { limitInputPixels: false }).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([WIDTH, HEIGHT, 3]);
    expect(meta.resolutionUnit).toBe('cm');
    // sharp reports density per inch: 10,000 / 0.25 px per cm.
    expect(meta.density).toBeCloseTo(40_000 * 2.54, 0);
  });

  it('stores repeated tiles once: the file is a few tiles, not the whole grid', async () => {
    expect(slide.tiles).toBe(Math.ceil(WIDTH / TILE) * Math.ceil(HEIGHT / TILE));
    expect(slide.tissueTiles).toBeGreaterThan(0);
    expect((await stat(file)).size).toBe(slide.bytes);
    expect(slide.bytes).toBeLessThan(2_000_000);
  });

  it('decodes tissue tiles to H&E pink and purple and glass tiles to near-white, past x = 65,535', async () => {
    const layout = slideLayout(WIDTH, HEIGHT, TILE, SEED);
    const last = (pred: (code: number) => boolean): [number, number] => {
      for (let i = layout.codes.length - 1; i >= 0; i--) {
        if (pred(layout.codes[i]!)) return [i % layout.cols, Math.floor(i / layout.cols)];
      }
      throw new Error('no such tile in the layout');
    };
    const tissue = last(isTissue);
    const glass = last((c) => c === GLASS);
    expect(tissue[0] * TILE).toBeGreaterThan(40_000);
    const [r, g, b] = await tileMean(file, ...tissue);
    // Eosin pink with hematoxylin nuclei: red well above green, blue between them.
    expect(r).toBeGreaterThan(190);
    expect(r).toBeLessThan(235);
    expect(g).toBeGreaterThan(90);
    expect(g).toBeLessThan(160);
    expect(b).toBeGreaterThan(g! + 20);
    expect(b).toBeLessThan(r!);
    const white = await tileMean(file, ...glass);
    for (const c of white) {
      expect(c).toBeGreaterThan(235);
      expect(c).toBeLessThan(252);
    }
  });

  it('tifffile reads the same size, BigTIFF, JPEG YCbCr 4:2:0 with JPEGTables and the resolution', async (ctx) => {
    const why = await tifffileMissing();
    if (why) ctx.skip(why);
    const r = await run(PYTHON, [
      '-c',
      `import json, sys, tifffile
with tifffile.TiffFile(sys.argv[1]) as t:
    p = t.pages[0]
    print(json.dumps({
        "shape": list(p.shape), "bigtiff": t.is_bigtiff, "tile": list(p.tile),
        "compression": int(p.compression), "photometric": int(p.photometric),
        "subsampling": list(p.tags["YCbCrSubSampling"].value), "tables": "JPEGTables" in p.tags,
        "xres": list(p.tags["XResolution"].value), "unit": int(p.tags["ResolutionUnit"].value),
        "offsets": len(p.dataoffsets), "distinct": len(set(p.dataoffsets))}))`,
      file,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      shape: [HEIGHT, WIDTH, 3],
      bigtiff: true,
      tile: [TILE, TILE],
      compression: 7,
      photometric: 6,
      subsampling: [2, 2],
      tables: true,
      xres: [40_000, 1],
      unit: 3,
      offsets: slide.tiles,
      distinct: slide.distinctTiles,
    });
  });

  it('--pyramid: reduced levels 4x apart that the slide readers take for its pyramid, their pixels block means of level 0', async () => {
    const small = path.join(dir, 'pyramid.tif');
    const p = await makeSyntheticSlide(small, { width: 20_000, height: 9_000, seed: SEED, pyramid: true });
    expect(p.levels).toEqual([
      { width: 20_000, height: 9_000 },
      { width: 5_000, height: 2_250 },
      { width: 1_250, height: 563 },
    ]);
    const { openSlide } = await import('../../tiles/index.ts');
    const source = await openSlide(small);
    try {
      expect(source.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [20_000, 9_000, 1],
        [5_000, 2_250, 4],
        [1_250, 563, 16],
      ]);
      expect(source.levelPixels).toBeDefined();
    } finally {
      await source.close();
    }
    // A region of level 1 against level 0 shrunk by libvips: the same picture.
    const [x, y, w, h] = [2_000, 1_000, 512, 512];
    const fine = await sharp(small, { limitInputPixels: false, page: 0 })
      .extract({ left: x * 4, top: y * 4, width: w * 4, height: h * 4 })
      .raw()
      .toBuffer();
    const shrunk = await sharp(fine, { raw: { width: w * 4, height: h * 4, channels: 3 } })
      .resize(w, h, { kernel: 'linear' })
      .raw()
      .toBuffer();
    const coarse = await sharp(small, { limitInputPixels: false, page: 1 })
      .extract({ left: x, top: y, width: w, height: h })
      .raw()
      .toBuffer();
    let diff = 0;
    for (let i = 0; i < coarse.length; i++) diff += Math.abs(coarse[i]! - shrunk[i]!);
    expect(diff / coarse.length).toBeLessThan(6);
  });

  it('rejects bad options with one message form before writing anything', async () => {
    await expect(
      makeSyntheticSlide(path.join(dir, 'bad.tif'), { width: 1000, height: 1000, tileSize: 500 }),
    ).rejects.toThrow('Expected a multiple of 16 for tileSize but received 500');
    await expect(makeSyntheticSlide(path.join(dir, 'bad.tif'), { width: 0, height: 10 })).rejects.toThrow(
      /^Expected integer between 1 and \d+ for width but received 0$/,
    );
  });

  it('CLI: wrong arguments are one line on stderr and exit code 2', async () => {
    const r = await run(process.execPath, [
      'scripts/bin/run.mjs',
      'scripts/bench/make-huge-slide.ts',
      '--size',
      '70000by2000',
      '--out',
      path.join(dir, 'cli.tif'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('Expected WIDTHxHEIGHT for --size but received 70000by2000');
  });
});
