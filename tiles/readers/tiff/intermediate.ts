import { randomUUID } from 'node:crypto';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { writeTiledTiff } from '../../tiff/writer.ts';
import type { PixelContext } from '../types.ts';

/** A full-resolution image produced tile by tile as raw 8-bit RGB. */
export interface RgbTileSource {
  width: number;
  height: number;
  /** Multiples of 16, as TIFF requires. */
  tileWidth: number;
  tileHeight: number;
  /** Exactly tileWidth * tileHeight * 3 bytes; the part past the image edge is ignored. */
  tile(col: number, row: number): Promise<Buffer>;
}

/**
 * Intermediate images up to this size are stored raw (lossless, fastest). Beyond it they hold JPEG
 * tiles at quality 95 without chroma subsampling (mean error under 1 level), because a raw copy of a
 * 100k x 80k slide would need 24 GB of scratch disk.
 */
export const RAW_INTERMEDIATE_MAX_BYTES = 2 * 1024 ** 3;

/** How an intermediate image is written. */
export interface IntermediateOptions {
  /** Progress label, e.g. 'decoding JPEG 2000 tiles'. */
  stage: string;
  rawMaxBytes?: number;
}

/**
 * Write `src` to a tiled TIFF in ctx.tmpDir and return a sharp pipeline over it: 8-bit sRGB, 3 bands.
 * Memory stays at a few tiles whatever the image size.
 */
export async function intermediatePixels(
  src: RgbTileSource,
  ctx: PixelContext,
  opts: IntermediateOptions,
): Promise<Sharp> {
  const file = path.join(ctx.tmpDir, `intermediate-${randomUUID()}.tif`);
  const raw = src.width * src.height * 3 <= (opts.rawMaxBytes ?? RAW_INTERMEDIATE_MAX_BYTES);
  const { tileWidth, tileHeight } = src;
  ctx.onProgress?.(0, opts.stage);
  await writeTiledTiff(
    file,
    raw
      ? {
          width: src.width,
          height: src.height,
          tileWidth,
          tileHeight,
          bands: 3,
          compression: 'none',
          photometric: 'rgb',
        }
      : {
          width: src.width,
          height: src.height,
          tileWidth,
          tileHeight,
          bands: 3,
          compression: 'jpeg',
          photometric: 'ycbcr',
          ycbcrSubsampling: [1, 1],
        },
    (col, row) => {
      const tile = (async () => {
        ctx.signal?.throwIfAborted();
        const rgb = await src.tile(col, row);
        if (raw) return rgb;
        return sharp(rgb, { raw: { width: tileWidth, height: tileHeight, channels: 3 } })
          .jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
          .toBuffer();
      })();
      // The writer asks for tiles ahead and awaits them in order: a failure in a tile it has not reached
      // yet (or never reaches, after an earlier failure) must not surface as an unhandled rejection,
      // which would end the process. The writer still sees the error when it awaits this tile.
      tile.catch(() => undefined);
      return tile;
    },
    (f) => ctx.onProgress?.(f, opts.stage),
  );
  return sharp(file, { limitInputPixels: false }).toColourspace('srgb');
}

/** Smallest multiple of 16 that is >= n (and at least 16). */
export function roundUp16(n: number): number {
  return Math.max(16, Math.ceil(n / 16) * 16);
}

/**
 * Tile size of an intermediate image: 512, or the image size rounded up to 16 for smaller images,
 * because libvips refuses to read a TIFF whose tiles are 4 or more times the image in both
 * directions ("tile size out of range").
 */
export function intermediateTileSize(width: number, height: number): [number, number] {
  return [Math.min(512, roundUp16(width)), Math.min(512, roundUp16(height))];
}

/**
 * Re-tile a grid of decoded source tiles into tiles of a size TIFF and libvips accept. When the source
 * tile is already such a size each output tile is one source tile; otherwise output tiles are
 * assembled from the source tiles they overlap, keeping recently used ones (two rows) in memory.
 */
export function retile(
  width: number,
  height: number,
  srcTileWidth: number,
  srcTileHeight: number,
  getSource: (col: number, row: number) => Promise<Buffer>,
): RgbTileSource {
  const [tw, th] = intermediateTileSize(width, height);
  if (srcTileWidth % 16 === 0 && srcTileHeight % 16 === 0 && srcTileWidth <= tw && srcTileHeight <= th) {
    return { width, height, tileWidth: srcTileWidth, tileHeight: srcTileHeight, tile: getSource };
  }
  const srcCols = Math.ceil(width / srcTileWidth);
  const capacity = 2 * (srcCols + 2) * Math.ceil(th / srcTileHeight + 1);
  const cache = new Map<number, Promise<Buffer>>();
  const source = (c: number, r: number): Promise<Buffer> => {
    const key = r * srcCols + c;
    let p = cache.get(key);
    if (p) {
      cache.delete(key);
    } else {
      p = getSource(c, r);
    }
    cache.set(key, p);
    while (cache.size > capacity) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
    return p;
  };
  return {
    width,
    height,
    tileWidth: tw,
    tileHeight: th,
    async tile(col, row) {
      const out = Buffer.alloc(tw * th * 3, 255);
      const x0 = col * tw;
      const y0 = row * th;
      const x1 = Math.min(x0 + tw, width);
      const y1 = Math.min(y0 + th, height);
      for (let sr = Math.floor(y0 / srcTileHeight); sr * srcTileHeight < y1; sr++) {
        for (let sc = Math.floor(x0 / srcTileWidth); sc * srcTileWidth < x1; sc++) {
          const src = await source(sc, sr);
          const sx0 = Math.max(x0, sc * srcTileWidth);
          const sx1 = Math.min(x1, (sc + 1) * srcTileWidth);
          for (let y = Math.max(y0, sr * srcTileHeight); y < Math.min(y1, (sr + 1) * srcTileHeight); y++) {
            const from = ((y - sr * srcTileHeight) * srcTileWidth + (sx0 - sc * srcTileWidth)) * 3;
            src.copy(out, ((y - y0) * tw + (sx0 - x0)) * 3, from, from + (sx1 - sx0) * 3);
          }
        }
      }
      return out;
    },
  };
}
