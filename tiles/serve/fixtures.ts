import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Manifest } from '../../protocol/index.ts';
import { ingest } from '../ingest/index.ts';
import type { SlideStore } from '../store/types.ts';

/**
 * Pixels that differ everywhere (gradients plus an XOR texture), so a tile from the wrong place, a
 * shifted crop or a swapped channel shows up in a mean difference.
 */
export function patternRgb(width: number, height: number, seed = 0): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = 40 + Math.floor((x * 200) / width);
      data[i + 1] = 30 + Math.floor((y * 160) / height);
      data[i + 2] = ((x >> 3) ^ (y >> 3) ^ seed) & 0xff;
    }
  }
  return data;
}

/**
 * Ingest a generated width x height slide into `store` (through the real ingest, so the stored
 * slide.tif is what libvips writes) and return its manifest. `quality` below 90 gives YCbCr tiles.
 */
export async function makeStoredSlide(
  store: SlideStore,
  width: number,
  height: number,
  opts: { quality?: number; seed?: number } = {},
): Promise<Manifest> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-src-'));
  const file = path.join(dir, `pattern-${width}x${height}-${opts.seed ?? 0}.tif`);
  try {
    await sharp(patternRgb(width, height, opts.seed ?? 0), { raw: { width, height, channels: 3 } })
      .tiff({ compression: 'deflate' })
      .toFile(file);
    const { manifest } = await ingest(file, store, { tileSize: 256, jpegQuality: opts.quality ?? 92 });
    return manifest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
