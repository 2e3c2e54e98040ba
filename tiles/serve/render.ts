import sharp, { type Sharp } from 'sharp';
import { SlideError } from '../errors.ts';
import type { IiifRequest } from './iiif.ts';
import { type RenderPlan, withinOneTile } from './plan.ts';
import type { StoredSlide } from './stored-slide.ts';

/** JPEG quality of rendered IIIF images and thumbnails. */
export const RENDER_JPEG_QUALITY = 90;

/**
 * The pixels a render plan asks for, as a sharp pipeline ready for encoding. A source inside one
 * stored tile (every Deep Zoom edge tile, most IIIF tile requests) decodes just that tile's JPEG;
 * larger ones let libvips read the level's tiles from slide.tif.
 */
export async function planPixels(slide: StoredSlide, plan: RenderPlan): Promise<Sharp> {
  const t = slide.manifest.tileSize;
  const { src } = plan;
  const one = withinOneTile(t, src);
  let img: Sharp;
  if (one) {
    const jpeg = await slide.readStoredTile(plan.level, one.col, one.row);
    if (!jpeg)
      throw new SlideError(
        'INTERNAL',
        `render plan reads a missing tile ${plan.level}/${one.col}/${one.row}`,
      );
    img = sharp(jpeg).extract({
      left: src.x - one.col * t,
      top: src.y - one.row * t,
      width: src.width,
      height: src.height,
    });
  } else {
    img = sharp(slide.path, { page: plan.level, limitInputPixels: false }).extract({
      left: src.x,
      top: src.y,
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
