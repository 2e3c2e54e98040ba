import sharp, { type Sharp } from 'sharp';
import { SlideError } from '../errors.ts';
import { settleAll } from '../settle.ts';
import type { IiifRequest } from './iiif.ts';
import { type RenderPlan, withinOneTile } from './plan.ts';
import type { StoredSlide } from './stored-slide.ts';

/** JPEG quality of rendered IIIF images and thumbnails. */
export const RENDER_JPEG_QUALITY = 90;

/**
 * The pixels a render plan asks for, as a sharp pipeline ready for encoding. A source inside one
 * stored tile (every Deep Zoom edge tile, most IIIF tile requests) decodes just that tile's JPEG;
 * larger ones let libvips read the level's tiles from slide.tif when it is on a local disk, and
 * otherwise (an object store) join the stored tiles that cover the source, read through the store.
 */
export async function planPixels(
  slide: Pick<StoredSlide, 'manifest' | 'readStoredTile' | 'localFile'>,
  plan: RenderPlan,
): Promise<Sharp> {
  const t = slide.manifest.tileSize;
  const { src } = plan;
  const one = withinOneTile(t, src);
  let img: Sharp;
  const tile = async (col: number, row: number): Promise<Buffer> => {
    const jpeg = await slide.readStoredTile(plan.level, col, row);
    if (!jpeg)
      throw new SlideError('INTERNAL', `render plan reads a missing tile ${plan.level}/${col}/${row}`);
    return jpeg;
  };
  if (one) {
    img = sharp(await tile(one.col, one.row)).extract({
      left: src.x - one.col * t,
      top: src.y - one.row * t,
      width: src.width,
      height: src.height,
    });
  } else if (slide.localFile) {
    img = sharp(slide.localFile, { page: plan.level, limitInputPixels: false }).extract({
      left: src.x,
      top: src.y,
      width: src.width,
      height: src.height,
    });
  } else {
    // Stored edge tiles are whole tiles (TIFF pads them), so the tiles make a regular grid.
    const { c0, r0, c1, r1 } = tilesOf(t, src);
    const reads: Promise<Buffer>[] = [];
    for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) reads.push(tile(c, r));
    const tiles = await settleAll(reads);
    img = sharp(tiles, { join: { across: c1 - c0 + 1 }, limitInputPixels: false }).extract({
      left: src.x - c0 * t,
      top: src.y - r0 * t,
      width: src.width,
      height: src.height,
    });
  }
  const extended = plan.extendRight > 0 || plan.extendBottom > 0;
  if (extended) {
    img = img.extend({ right: plan.extendRight, bottom: plan.extendBottom, extendWith: 'copy' });
  }
  if (plan.width !== src.width + plan.extendRight || plan.height !== src.height + plan.extendBottom) {
    // sharp extends after resizing; plans never ask for both.
    if (extended) throw new SlideError('INTERNAL', 'render plan both extends and resizes');
    img = img.resize(plan.width, plan.height, { fit: 'fill' });
  }
  return img;
}

/** The first and last column and row of the stored tiles (`t` px) under `src`. */
function tilesOf(t: number, src: RenderPlan['src']): { c0: number; r0: number; c1: number; r1: number } {
  return {
    c0: Math.floor(src.x / t),
    r0: Math.floor(src.y / t),
    c1: Math.floor((src.x + src.width - 1) / t),
    r1: Math.floor((src.y + src.height - 1) / t),
  };
}

/** Stored tiles a render reads ahead of its turn at most (each a few KB); larger reads wait for it. */
const READ_AHEAD_TILES = 16;

/**
 * Read the stored tiles a render plan will decode, so that a store that fetches over the network
 * (no local file) has them before the render starts: the render then finds them in the store's
 * cache. Nothing for a local file (a positioned read is cheaper than waiting) or a plan over
 * READ_AHEAD_TILES tiles; errors are left for the render itself to meet.
 */
export async function readPlanTiles(
  slide: Pick<StoredSlide, 'manifest' | 'readStoredTile' | 'localFile'>,
  plan: RenderPlan,
): Promise<void> {
  const { c0, r0, c1, r1 } = tilesOf(slide.manifest.tileSize, plan.src);
  if (slide.localFile || (c1 - c0 + 1) * (r1 - r0 + 1) > READ_AHEAD_TILES) return;
  const reads: Promise<unknown>[] = [];
  for (let r = r0; r <= r1; r++)
    for (let c = c0; c <= c1; c++) reads.push(slide.readStoredTile(plan.level, c, r).catch(() => null));
  await Promise.all(reads);
}

/** IIIF steps after region and size: mirror, rotate, grey, encode. */
export function finishIiif(img: Sharp, req: IiifRequest): Sharp {
  if (req.mirror) img = img.flop();
  if (req.rotation !== 0) img = img.rotate(req.rotation);
  if (req.quality === 'gray') img = img.toColourspace('b-w');
  switch (req.format) {
    case 'png':
      return img.png();
    case 'webp':
      // WebP encodes ~10x slower than JPEG; effort 2 keeps big requests within seconds.
      return img.webp({ quality: 80, effort: 2 });
    default:
      return img.jpeg({ quality: RENDER_JPEG_QUALITY });
  }
}
