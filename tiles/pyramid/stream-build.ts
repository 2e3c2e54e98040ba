import { rm } from 'node:fs/promises';
import os from 'node:os';
import type { StoredLevel } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { storedLevels } from './math.ts';
import { type LevelCoding, TiffWriter } from '../tiff/writer.ts';
import { TileEncoder } from './tile-encoder.ts';

/** One level-0 tile: the bytes to store, and its pixels for the levels below. */
export interface Level0Tile {
  /** A JPEG stream as the level's IFD declares it (abbreviated when the level has shared tables). */
  stored: Buffer;
  /** Tiles with the same key hold the same bytes: stored once. */
  key?: string;
  /** tileSize x tileSize x 3 bytes of RGB, the part beyond the image edge being anything. */
  rgb: Buffer;
}

/** Level 0 of a pyramid, tile by tile: the scanner's own tiles, or tiles encoded from decoded pixels. */
export interface Level0 {
  width: number;
  height: number;
  tileSize: number;
  /** true when the stored tiles are the scanner's compressed data, unchanged. */
  scanner: boolean;
  colour: 'rgb' | 'ycbcr';
  subsampling?: [number, number];
  jpegTables?: Buffer | null;
  tile(col: number, row: number): Promise<Level0Tile>;
}

export interface StreamBuildOptions {
  /** JPEG quality of the levels made here. */
  quality: number;
  /** ImageDescription of a level. */
  description?: (level: StoredLevel) => string;
  /** µm per pixel at level 0, [x, y], or null. */
  mpp?: [number, number] | null;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Level-0 tiles read and decoded at once. */
  concurrency?: number;
}

/** A built level: its layout and whether its tiles are the scanner's data. */
export type BuiltLevel = StoredLevel & { scanner: boolean };

/**
 * Build the stored pyramid from level 0, tile by tile, depth first: a tile of level k is made as soon
 * as the (up to) four tiles of level k-1 under it are, by averaging each 2 x 2 pixel block (the
 * levels halve, rounding down, as storedLevels says) and encoding the result. Memory holds a few
 * tiles per level whatever the slide's size, and no image is ever larger than two tiles a side, so
 * no codec's size limit applies (JPEG's 65,535 px stopped whole-image writers).
 */
export async function buildPyramidStream(
  l0: Level0,
  outPath: string,
  opts: StreamBuildOptions,
): Promise<BuiltLevel[]> {
  const T = l0.tileSize;
  const levels = storedLevels(l0.width, l0.height, T);
  const top = levels.length - 1;
  const ppc = (k: number): [number, number] | null =>
    opts.mpp ? [10_000 / (opts.mpp[0] * 2 ** k), 10_000 / (opts.mpp[1] * 2 ** k)] : null;
  const encoder = await TileEncoder.create(T, opts.quality);
  const encoderCoding = encoder.coding;
  const coding: LevelCoding[] = levels.map((l, k) => ({
    width: l.width,
    height: l.height,
    tileWidth: T,
    tileHeight: T,
    ...(k === 0
      ? { colour: l0.colour, subsampling: l0.subsampling, jpegTables: l0.jpegTables ?? null }
      : encoderCoding),
    description: opts.description?.(l),
    pixelsPerCm: ppc(k),
  }));
  const writer = await TiffWriter.create(outPath, coding);
  const total = levels.reduce((n, l) => n + l.tilesX * l.tilesY, 0);
  let done = 0;
  const progress = (): void => {
    done++;
    if (done % 16 === 0 || done === total) opts.onProgress?.(done / total);
  };
  const limit = semaphore(opts.concurrency ?? Math.max(2, os.availableParallelism() * 2));

  const node = async (k: number, col: number, row: number): Promise<Buffer> => {
    if (opts.signal?.aborted) throw new SlideError('INGEST_FAILED', 'ingest cancelled');
    const level = levels[k]!;
    const index = row * level.tilesX + col;
    if (k === 0) {
      const t = await limit(() => l0.tile(col, row));
      await writer.put(0, index, t.stored, t.key);
      progress();
      return t.rgb;
    }
    const below = levels[k - 1]!;
    const kids = [
      [2 * col, 2 * row],
      [2 * col + 1, 2 * row],
      [2 * col, 2 * row + 1],
      [2 * col + 1, 2 * row + 1],
    ].map(([c, r]) => (c! < below.tilesX && r! < below.tilesY ? node(k - 1, c!, r!) : null));
    const rgb = await Promise.all(kids);
    const half = halve(rgb, T);
    const jpeg = await limit(() => encoder.encode(half));
    await writer.put(k, index, jpeg);
    progress();
    return half;
  };

  try {
    const topLevel = levels[top]!;
    const roots: Promise<Buffer>[] = [];
    for (let r = 0; r < topLevel.tilesY; r++)
      for (let c = 0; c < topLevel.tilesX; c++) roots.push(node(top, c, r));
    await Promise.all(roots);
    await writer.finish();
  } catch (e) {
    await writer.abort();
    await rm(outPath, { force: true });
    throw e;
  }
  return levels.map((l, k) => ({ ...l, scanner: k === 0 && l0.scanner }));
}

/**
 * One tile of the level above from the four below it (top-left, top-right, bottom-left, bottom-right;
 * null where the level below ends): each output pixel is the mean of a 2 x 2 block. Where a block
 * reaches past the image, the part beyond is never read for pixels inside the image, since levels
 * halve rounding down.
 */
export function halve(kids: readonly (Buffer | null)[], T: number): Buffer {
  const out = Buffer.alloc(T * T * 3, 255);
  const h = T / 2;
  const rowBytes = T * 3;
  for (let q = 0; q < 4; q++) {
    const src = kids[q];
    if (!src) continue;
    const ox = (q % 2) * h;
    const oy = (q >> 1) * h;
    for (let y = 0; y < h; y++) {
      const a = 2 * y * rowBytes;
      const b = a + rowBytes;
      let o = ((oy + y) * T + ox) * 3;
      for (let x = 0; x < h; x++) {
        const s = x * 6;
        out[o] = (src[a + s]! + src[a + s + 3]! + src[b + s]! + src[b + s + 3]! + 2) >> 2;
        out[o + 1] = (src[a + s + 1]! + src[a + s + 4]! + src[b + s + 1]! + src[b + s + 4]! + 2) >> 2;
        out[o + 2] = (src[a + s + 2]! + src[a + s + 5]! + src[b + s + 2]! + src[b + s + 5]! + 2) >> 2;
        o += 3;
      }
    }
  }
  return out;
}

/** At most `n` of the given tasks run at once, the rest in the order they asked. */
function semaphore(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let free = n;
  const queue: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (free > 0) free--;
    else await new Promise<void>((r) => queue.push(r));
    try {
      return await task();
    } finally {
      const next = queue.shift();
      if (next) next();
      else free++;
    }
  };
}
