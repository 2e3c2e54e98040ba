import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp, { type Sharp } from 'sharp';

const run = promisify(execFile);

export interface Rgb {
  width: number;
  height: number;
  data: Buffer;
}

/** Decode any sharp pipeline region to packed 8-bit RGB. */
export async function toRgb(img: Sharp): Promise<Rgb> {
  const { data, info } = await img
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { width: info.width, height: info.height, data };
}

/** Mean absolute difference per channel between two same-sized RGB images. */
export function meanAbsDiff(a: Rgb, b: Rgb): [number, number, number] {
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(`size ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  const sums = [0, 0, 0];
  for (let i = 0; i < a.data.length; i++) sums[i % 3]! += Math.abs(a.data[i]! - b.data[i]!);
  const n = a.width * a.height;
  return [sums[0]! / n, sums[1]! / n, sums[2]! / n];
}

/** Standard deviation of luminance-ish values: a blank image has ~0. */
export function spread(a: Rgb): number {
  let s = 0;
  let s2 = 0;
  const n = a.width * a.height;
  for (let i = 0; i < n; i++) {
    const v = (a.data[i * 3]! + a.data[i * 3 + 1]! + a.data[i * 3 + 2]!) / 3;
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  return Math.sqrt(Math.max(0, s2 / n - mean * mean));
}

/**
 * An independent decode of a region of a slide file: Debian's `vips` command (libvips 8.14 with
 * OpenSlide, not the libvips inside sharp), cropped to PNG and read back. `options` are vips loader
 * options such as 'page=2' or 'level=1'.
 */
export async function vipsRegion(
  file: string,
  x: number,
  y: number,
  w: number,
  h: number,
  options = '',
): Promise<Rgb> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-ref-'));
  try {
    const out = path.join(dir, 'ref.png');
    await run('vips', [
      'crop',
      options ? `${file}[${options}]` : file,
      out,
      String(x),
      String(y),
      String(w),
      String(h),
    ]);
    return await toRgb(sharp(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function haveVipsCommand(): Promise<boolean> {
  try {
    await run('vips', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Average 2^k x 2^k blocks: the reference for pyramid level k (libvips halves by 2x2 averaging, and
 * repeated halving with floor sizes is the same as one block mean over floor(size / 2^k)).
 */
export function boxDownsample(a: Rgb, k: number): Rgb {
  const f = 2 ** k;
  const width = Math.max(1, Math.floor(a.width / f));
  const height = Math.max(1, Math.floor(a.height / f));
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        let n = 0;
        for (let dy = 0; dy < f && y * f + dy < a.height; dy++)
          for (let dx = 0; dx < f && x * f + dx < a.width; dx++) {
            s += a.data[((y * f + dy) * a.width + x * f + dx) * 3 + c]!;
            n++;
          }
        data[(y * width + x) * 3 + c] = Math.round(s / n);
      }
  return { width, height, data };
}
