import sharp, { type Sharp } from 'sharp';
import type { PixelContext } from '../types.ts';
import { J2K_COMPRESSIONS, rgbPipeline } from './common.ts';
import { intermediatePixels, type RgbTileSource } from './intermediate.ts';
import { j2kTileSource } from './j2k.ts';
import { jpegColourMismatch, jpegTileSource } from './jpeg-tiles.ts';
import type { Ifd, TiffFile } from '../../tiff/file.ts';

/**
 * The decoder an RGB(-like) IFD needs: libvips directly when it decodes the IFD correctly, else tile
 * by tile (JPEG 2000, which libvips lacks; JPEG whose markers contradict the Photometric tag).
 */
async function ownTiles(file: TiffFile, ifd: Ifd): Promise<{ src: RgbTileSource; stage: string } | null> {
  if (J2K_COMPRESSIONS.has(ifd.compression))
    return { src: await j2kTileSource(file, ifd), stage: 'decoding JPEG 2000 tiles' };
  if (await jpegColourMismatch(ifd))
    return { src: await jpegTileSource(file, ifd), stage: 'decoding YCbCr JPEG tiles' };
  return null;
}

/** Full-resolution pixels of one IFD as 8-bit sRGB with 3 bands, streamed. */
export async function ifdPixels(file: TiffFile, ifd: Ifd, ctx: PixelContext): Promise<Sharp> {
  const own = await ownTiles(file, ifd);
  if (!own) return rgbPipeline(file.path, ifd);
  return intermediatePixels(own.src, ctx, { stage: own.stage });
}

/**
 * One IFD as libvips reads it on demand (8-bit sRGB, 3 bands), or null when it needs a decoder of
 * its own (JPEG 2000, JPEG whose markers contradict the Photometric tag).
 */
export async function ifdLevelPixels(file: TiffFile, ifd: Ifd | undefined): Promise<Sharp | null> {
  if (!ifd || (await ownTiles(file, ifd))) return null;
  return rgbPipeline(file.path, ifd).removeAlpha();
}

/** A whole (small) IFD as packed RGB, assembled from its tiles. */
async function assemble(src: RgbTileSource): Promise<Buffer> {
  const { width, height, tileWidth: tw, tileHeight: th } = src;
  const out = Buffer.alloc(width * height * 3);
  for (let r = 0; r * th < height; r++) {
    for (let c = 0; c * tw < width; c++) {
      const tile = await src.tile(c, r);
      const w = Math.min(tw, width - c * tw);
      for (let y = r * th; y < Math.min((r + 1) * th, height); y++) {
        const from = (y - r * th) * tw * 3;
        tile.copy(out, (y * width + c * tw) * 3, from, from + w * 3);
      }
    }
  }
  return out;
}

/** An associated image (label, macro, thumbnail) as PNG, which keeps labels' barcodes exact. */
export async function encodeAssociated(file: TiffFile, ifd: Ifd): Promise<Buffer> {
  const own = await ownTiles(file, ifd);
  if (!own) return rgbPipeline(file.path, ifd).png().toBuffer();
  const rgb = await assemble(own.src);
  return sharp(rgb, { raw: { width: ifd.width, height: ifd.height, channels: 3 } })
    .png()
    .toBuffer();
}
