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
