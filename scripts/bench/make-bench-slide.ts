/**
 * Generates the benchmark slide: a tissue-like RGB JPEG pyramidal tiled BigTIFF, 60,000 x 45,000 px
 * by default, into .bench/ at the repository root. Deterministic (seeded), and skipped when the file
 * is already there with the right size.
 *
 *   node scripts/bin/run.mjs scripts/bench/make-bench-slide.ts [--size WxH] [--force]
 *
 * The full image is 8 GB of pixels, so it is never held: a 1/8-scale tissue picture (~130 MB) is
 * drawn in memory, then sharp upsamples it, lays a full-resolution grain over it, and writes the
 * pyramid as a stream.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { prng } from '../prng.ts';
import { sizeArg } from './args.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_DIR = path.join(REPO_ROOT, '.bench');
export const DEFAULT_WIDTH = 60_000;
export const DEFAULT_HEIGHT = 45_000;
/** Aperio's tile size: a scanner-like input that is not already on the store's 256 grid. */
export const SOURCE_TILE = 240;
/** The drawn picture is this many times smaller than the slide on each side. */
const SCALE = 8;
const SEED = 0x7e55e7a;
/** 0.25 µm/px, a 40x scan, so ingest has a resolution to carry over. */
const PIXELS_PER_MM = 4000;

export interface BenchSlide {
  path: string;
  width: number;
  height: number;
  /** Seconds spent generating, 0 when the file was already there. */
  seconds: number;
  generated: boolean;
}

/** Where the slide of a given size lives. */
export function benchSlidePath(width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT): string {
  return path.join(BENCH_DIR, `bench-slide-${width}x${height}.tif`);
}

/**
 * Make sure the bench slide exists: reuse a file whose level 0 has the right size, otherwise generate
 * it (to a temporary name first, so an interrupted run never leaves a half file behind).
 */
export async function ensureBenchSlide(
  opts: { width?: number; height?: number; force?: boolean; log?: (line: string) => void } = {},
): Promise<BenchSlide> {
  const width = opts.width ?? DEFAULT_WIDTH;
  const height = opts.height ?? DEFAULT_HEIGHT;
  const log = opts.log ?? ((line: string) => console.error(line));
  const out = benchSlidePath(width, height);
  if (!opts.force && existsSync(out)) {
    try {
      const meta = await sharp(out, { limitInputPixels: false }).metadata();
      if (meta.width === width && meta.height === height) {
        return { path: out, width, height, seconds: 0, generated: false };
      }
      log(`bench slide ${path.basename(out)} is ${meta.width}x${meta.height}: regenerating`);
    } catch {
      log(`bench slide ${path.basename(out)} is unreadable: regenerating`);
    }
  }
  await mkdir(BENCH_DIR, { recursive: true });
  const concurrency = sharp.concurrency(Math.max(2, os.availableParallelism()));
  log(
    `generating ${path.basename(out)} (${width}x${height}, ${SOURCE_TILE}px JPEG tiles, sharp concurrency ${concurrency})`,
  );
  const t0 = performance.now();
  await writeSyntheticSlide(out, width, height, SEED);
  const seconds = (performance.now() - t0) / 1000;
  log(`generated ${path.basename(out)} in ${seconds.toFixed(1)} s`);
  return { path: out, width, height, seconds, generated: true };
}

/** A level small enough to decode whole must show tissue: white glass, pink stain, and (averaged down, so few) dark nuclei. */
/**
 * A synthetic H&E-like pyramidal TIFF (240 px JPEG tiles, 0.25 µm/px) at `out`, written under a
 * temporary name first so that an interrupted run leaves no half file.
 */
export async function writeSyntheticSlide(
  out: string,
  width: number,
  height: number,
  seed: number,
): Promise<void> {
  const small = drawTissue(Math.ceil(width / SCALE), Math.ceil(height / SCALE), seed);
  const grain = drawGrain(512, seed + 1);
  const partial = `${out}.partial-${process.pid}`;
  try {
    await sharp(Buffer.from(small.data.buffer), {
      raw: { width: small.width, height: small.height, channels: 3 },
    })
      .resize(width, height, { kernel: 'linear', fit: 'fill' })
      .composite([
        {
          input: Buffer.from(grain.data.buffer),
          raw: { width: grain.width, height: grain.height, channels: 3 },
          tile: true,
          blend: 'overlay',
        },
      ])
      .tiff({
        tile: true,
        tileWidth: SOURCE_TILE,
        tileHeight: SOURCE_TILE,
        pyramid: true,
        compression: 'jpeg',
        quality: 90,
        bigtiff: true,
        xres: PIXELS_PER_MM,
        yres: PIXELS_PER_MM,
        resolutionUnit: 'cm',
      })
      .toFile(partial);
    await checkNotBlank(partial);
    await rename(partial, out);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}

async function checkNotBlank(file: string): Promise<void> {
  const meta = await sharp(file, { limitInputPixels: false }).metadata();
  const pages = meta.pages ?? 1;
  // Pyramid pages halve from level 0; pick the first one under ~2 megapixels.
  let page = 0;
  while (page < pages - 1 && ((meta.width ?? 0) * (meta.height ?? 0)) / 4 ** page > 2_000_000) page++;
  const { data, info } = await sharp(file, { page, limitInputPixels: false })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let white = 0;
  let dark = 0;
  let pink = 0;
  const n = info.width * info.height;
  for (let i = 0; i < data.length; i += info.channels) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    if (r > 225 && g > 225 && b > 225) white++;
    else if (r + g + b < 400) dark++;
    else if (r > g + 30) pink++;
  }
  const share = (k: number): number => k / n;
  if (share(white) < 0.1 || share(white) > 0.85 || share(pink) < 0.05 || share(dark) < 0.001) {
    throw new Error(
      `bench slide looks wrong at level ${page}: white ${pct(white / n)}, pink ${pct(pink / n)}, dark ${pct(dark / n)}`,
    );
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Smooth value noise in 0..1 with features about `cell` pixels across. */
function valueNoise(
  rand: () => number,
  width: number,
  height: number,
  cell: number,
): (x: number, y: number) => number {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = rand();
  return (x, y) => {
    const fx = x / cell;
    const fy = y / cell;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const tx = fx - ix;
    const ty = fy - iy;
    const sx = tx * tx * (3 - 2 * tx);
    const sy = ty * ty * (3 - 2 * ty);
    const o = iy * gw + ix;
    const a = grid[o]! + (grid[o + 1]! - grid[o]!) * sx;
    const b = grid[o + gw]! + (grid[o + gw + 1]! - grid[o + gw]!) * sx;
    return a + (b - a) * sy;
  };
}

interface Raster {
  width: number;
  height: number;
  /** Clamped so that blending arithmetic can never wrap a channel around. */
  data: Uint8ClampedArray;
}

/**
 * H&E-like picture: a few irregular tissue sections on white glass, eosin-pink stroma with fibre
 * texture, and hematoxylin-purple nuclei that cluster unevenly.
 */
function drawTissue(width: number, height: number, seed: number): Raster {
  const rand = prng(seed);
  const data = new Uint8ClampedArray(width * height * 3);
  const edge = valueNoise(rand, width, height, Math.max(8, width / 24));
  const tone = valueNoise(rand, width, height, Math.max(4, width / 60));
  const fibre = valueNoise(rand, width, height, Math.max(2, width / 400));
  const cluster = valueNoise(rand, width, height, Math.max(4, width / 40));
  const sections = Array.from({ length: 5 }, (_, i) => ({
    cx: width * (0.14 + 0.18 * i + (rand() - 0.5) * 0.05),
    cy: height * (0.5 + (rand() - 0.5) * 0.3),
    rx: width * (0.07 + rand() * 0.04),
    ry: height * (0.22 + rand() * 0.12),
    angle: (rand() - 0.5) * 0.8,
  }));
  // Tissue density on a coarse grid, interpolated per pixel: the sections are smooth at this scale.
  const step = 4;
  const cw = Math.ceil(width / step) + 1;
  const ch = Math.ceil(height / step) + 1;
  const coarse = new Float32Array(cw * ch);
  for (let gy = 0; gy < ch; gy++) {
    for (let gx = 0; gx < cw; gx++) {
      const x = gx * step;
      const y = gy * step;
      let inside = 0;
      for (const s of sections) {
        const c = Math.cos(s.angle);
        const sn = Math.sin(s.angle);
        const u = ((x - s.cx) * c + (y - s.cy) * sn) / s.rx;
        const v = (-(x - s.cx) * sn + (y - s.cy) * c) / s.ry;
        const d = Math.sqrt(u * u + v * v) - 0.45 * (edge(x, y) - 0.5);
        inside = Math.max(inside, Math.min(1, Math.max(0, (1 - d) * 12)));
      }
      coarse[gy * cw + gx] = inside;
    }
  }
  const tissueAt = (x: number, y: number): number => {
    const gx = Math.min(cw - 2, Math.floor(x / step));
    const gy = Math.min(ch - 2, Math.floor(y / step));
    const tx = x / step - gx;
    const ty = y / step - gy;
    const o = gy * cw + gx;
    const a = coarse[o]! + (coarse[o + 1]! - coarse[o]!) * tx;
    const b = coarse[o + cw]! + (coarse[o + cw + 1]! - coarse[o + cw]!) * tx;
    return a + (b - a) * ty;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = tissueAt(x, y);
      const i = (y * width + x) * 3;
      const glass = 243 + rand() * 6;
      if (t <= 0) {
        data[i] = glass;
        data[i + 1] = glass - 1;
        data[i + 2] = glass + 2;
        continue;
      }
      const k = tone(x, y);
      const f = fibre(x, y);
      // Stroma: pale where fibres thin out, deeper pink along them.
      const depth = 0.35 + 0.4 * k + 0.35 * Math.abs(Math.sin(f * 18 + x * 0.01));
      const r = 238 - 30 * depth;
      const g = 190 - 95 * depth;
      const b = 220 - 50 * depth;
      data[i] = glass + (r - glass) * t;
      data[i + 1] = glass + (g - glass) * t;
      data[i + 2] = glass + (b - glass) * t;
    }
  }
  // Nuclei: discs with a soft rim, denser where the cluster noise is high.
  const nuclei = Math.round((width * height) / 30);
  for (let n = 0; n < nuclei; n++) {
    const x0 = rand() * width;
    const y0 = rand() * height;
    const t = tissueAt(x0, y0);
    if (t < 0.5 || rand() > cluster(x0, y0) ** 2 * 1.6) continue;
    const radius = 0.9 + rand() * 1.4;
    const darkness = 0.65 + rand() * 0.35;
    const r0 = Math.floor(x0 - radius - 1);
    const r1 = Math.ceil(x0 + radius + 1);
    for (
      let y = Math.max(0, Math.floor(y0 - radius - 1));
      y <= Math.min(height - 1, Math.ceil(y0 + radius + 1));
      y++
    ) {
      for (let x = Math.max(0, r0); x <= Math.min(width - 1, r1); x++) {
        const d = Math.hypot(x - x0, y - y0);
        const a = Math.min(1, Math.max(0, radius + 0.5 - d)) * darkness;
        if (a <= 0) continue;
        const i = (y * width + x) * 3;
        data[i] = data[i]! + (78 - data[i]!) * a;
        data[i + 1] = data[i + 1]! + (48 - data[i + 1]!) * a;
        data[i + 2] = data[i + 2]! + (128 - data[i + 2]!) * a;
      }
    }
  }
  return { width, height, data };
}

/** Mid-grey grain: under an overlay blend it leaves white glass white and textures the stain. */
function drawGrain(size: number, seed: number): Raster {
  const rand = prng(seed);
  const data = new Uint8ClampedArray(size * size * 3);
  const blotch = valueNoise(rand, size + 8, size + 8, 6);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = 128 + (rand() - 0.5) * 26 + (blotch(x, y) - 0.5) * 30;
      const i = (y * size + x) * 3;
      data[i] = v;
      data[i + 1] = v;
      data[i + 2] = v;
    }
  }
  return { width: size, height: size, data };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string' }, force: { type: 'boolean', default: false } },
    strict: true,
  });
  const size = values.size ? sizeArg(values.size) : { width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT };
  const slide = await ensureBenchSlide({ ...size, force: values.force === true });
  console.log(
    slide.generated
      ? `${slide.path} (generated in ${slide.seconds.toFixed(1)} s)`
      : `${slide.path} (already there)`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
