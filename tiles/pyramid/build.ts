import { readFileSync, statSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import type { StoredLevel } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { storedLevels } from './math.ts';

export interface BuildOptions {
  tileSize: number;
  /** JPEG quality of stored tiles. */
  quality: number;
  /** Bytes libvips will read to build the pyramid; drives the progress estimate. */
  inputBytes: number;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/**
 * Pyramid-tile a full-resolution 8-bit RGB image into a tiled JPEG BigTIFF at `outPath`: level 0 then
 * halvings down to one tile (the layout every pathology tool reads). Returns the levels actually
 * written, checked against the tile math so a change in libvips cannot silently change the layout.
 */
export async function buildPyramid(
  image: Sharp,
  outPath: string,
  opts: BuildOptions,
): Promise<StoredLevel[]> {
  const meta = await image.metadata();
  const stop = watchProgress(opts);
  try {
    if (opts.signal?.aborted) throw new SlideError('INGEST_FAILED', 'ingest cancelled');
    await image
      .tiff({
        tile: true,
        pyramid: true,
        compression: 'jpeg',
        quality: opts.quality,
        bigtiff: true,
        tileWidth: opts.tileSize,
        tileHeight: opts.tileSize,
      })
      .toFile(outPath);
  } finally {
    stop();
  }
  const out = await sharp(outPath, { limitInputPixels: false }).metadata();
  const width = out.width;
  const height = out.height;
  if (meta.width !== undefined && (width !== meta.width || height !== meta.height)) {
    throw new SlideError(
      'INGEST_FAILED',
      `pyramid level 0 is ${width}x${height}, source is ${meta.width}x${meta.height}`,
    );
  }
  const expected = storedLevels(width, height, opts.tileSize);
  const pages = out.pages ?? 1;
  if (pages !== expected.length) {
    throw new SlideError('INGEST_FAILED', `pyramid has ${pages} levels, expected ${expected.length}`);
  }
  for (const level of expected.slice(1)) {
    const m = await sharp(outPath, { page: level.index, limitInputPixels: false }).metadata();
    if (m.width !== level.width || m.height !== level.height) {
      throw new SlideError(
        'INGEST_FAILED',
        `pyramid level ${level.index} is ${m.width}x${m.height}, expected ${level.width}x${level.height}`,
      );
    }
  }
  return expected;
}

/**
 * libvips reads its input front to back once while it writes the pyramid, so the bytes this process
 * has read (/proc/self/io rchar) against the input size is an honest progress measure. Elsewhere
 * (no /proc) progress jumps from 0 to 1.
 */
function watchProgress(opts: BuildOptions): () => void {
  const { onProgress } = opts;
  if (!onProgress) return () => {};
  const start = readChars();
  if (start === null || opts.inputBytes <= 0) return () => {};
  let last = 0;
  const timer = setInterval(() => {
    const now = readChars();
    if (now === null) return;
    const f = Math.min(0.99, (now - start) / opts.inputBytes);
    if (f > last) {
      last = f;
      onProgress(f);
    }
  }, 200);
  timer.unref();
  return () => clearInterval(timer);
}

function readChars(): number | null {
  try {
    const m = /rchar:\s+(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Total size of the files a pipeline reads, for progress; 0 where unknown. */
export function fileBytes(paths: readonly string[]): number {
  let total = 0;
  for (const p of paths) {
    try {
      total += statSync(p).size;
    } catch {
      // a path that vanished counts as nothing
    }
  }
  return total;
}
