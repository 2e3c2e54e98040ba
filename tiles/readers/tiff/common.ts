import path from 'node:path';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { SlideError } from '../../errors.ts';
import type { SourceLevel } from '../types.ts';
import { TAG, type Ifd } from '../../tiff/file.ts';

/**
 * Largest slide accepted, in pixels (200 gigapixels: a 20 x 10 mm tissue area at 0.05 µm/px, about
 * 4x the largest whole-slide scans in use). A header claiming more is damaged or hostile, and
 * accepting it would only fail later, after minutes of work or an exhausted disk.
 */
export const MAX_SLIDE_PIXELS = 2e11;
/** Longest side accepted, in pixels: a full 75 mm slide at 0.075 µm/px. */
export const MAX_SLIDE_SIDE = 1_000_000;

/** Reject sizes no slide can have, before any pixel is read. */
export function checkSlideSize(file: string, width: number, height: number): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new SlideError('CORRUPT_FILE', `${file}: invalid image size ${width} x ${height}`);
  }
  if (width > MAX_SLIDE_SIDE || height > MAX_SLIDE_SIDE || width * height > MAX_SLIDE_PIXELS) {
    throw new SlideError(
      'IMAGE_TOO_LARGE',
      `${file}: image of ${width} x ${height} pixels exceeds the limit of ${MAX_SLIDE_SIDE} pixels a side ` +
        `and ${MAX_SLIDE_PIXELS.toExponential()} pixels in all`,
    );
  }
}

/** Display name: the file name without its extension(s) ('a.ome.tiff' -> 'a'). */
export function slideName(filePath: string): string {
  const base = path.basename(filePath);
  return base.replace(/(\.ome)?\.(tiff?|svs|qptiff|btf|tf8|tf2)$/i, '') || base;
}

/** sharp input options addressing one IFD (a main-chain page or a SubIFD of one). */
export function sharpAddress(ifd: Ifd): SharpOptions {
  return ifd.subIndex < 0
    ? { page: ifd.index, limitInputPixels: false }
    : { page: ifd.index, subifd: ifd.subIndex, limitInputPixels: false };
}

/**
 * One IFD as 8-bit sRGB with 3 bands: grey is replicated, 16-bit scaled down, and alpha composited on
 * white, since a transparent slide area is glass with no tissue.
 */
export function rgbPipeline(file: string, ifd: Ifd): Sharp {
  return sharp(file, sharpAddress(ifd)).flatten({ background: '#ffffff' }).toColourspace('srgb');
}

/**
 * JPEG 2000 compressions (Aperio's 33003 YCbCr and 33005 RGB, 33004, and the standard 34712): libvips has
 * no JPEG 2000 decoder, so these are decoded tile by tile with OpenJPEG.
 */
export const J2K_COMPRESSIONS = new Set([33003, 33004, 33005, 34712]);

/** A source level as the SlideSource interface describes it. */
export function levelOf(ifd: Ifd, level0Width: number): SourceLevel {
  return {
    width: ifd.width,
    height: ifd.height,
    downsample: level0Width / ifd.width,
    tileWidth: ifd.tileWidth,
    tileHeight: ifd.tileHeight,
  };
}

/**
 * Whether `ifd` is a reduced copy of `base` (a pyramid level): smaller, same aspect ratio within the
 * rounding of each halving, same sample layout.
 */
export function isReducedCopy(base: Ifd, ifd: Ifd): boolean {
  if (ifd.width >= base.width || ifd.height >= base.height || ifd.width < 1 || ifd.height < 1) return false;
  if (ifd.samplesPerPixel !== base.samplesPerPixel || ifd.bitsPerSample !== base.bitsPerSample) return false;
  const dx = base.width / ifd.width;
  const dy = base.height / ifd.height;
  // Each halving rounds by up to one pixel, so allow the ratios to differ by a pixel's worth.
  const tolerance = Math.max(0.02, 2 / Math.min(ifd.width, ifd.height));
  return Math.abs(dx - dy) / dx <= tolerance;
}

/**
 * Resolutions that image libraries write when nobody measured anything (72 and 96 dpi screen
 * defaults, 150/300 dpi print defaults): reading them as a microscope's pixel size would put a scale
 * bar on the slide that is wrong by a factor of a thousand.
 */
const PLACEHOLDER_DPI = [72, 96, 150, 300];
/** Pixel sizes outside this range (µm) do not come from a microscope. */
const MPP_RANGE: [number, number] = [0.01, 50];

/**
 * µm per pixel from XResolution / YResolution and ResolutionUnit (2 inch, 3 centimetre); null where
 * the unit is absent or "none", or the value is a placeholder.
 */
export function resolutionMpp(ifd: Ifd): { x: number | null; y: number | null } {
  // Without the unit tag TIFF means inches, but a file that never states a unit never measured one.
  if (!ifd.has(TAG.ResolutionUnit)) return { x: null, y: null };
  const unit = ifd.num(TAG.ResolutionUnit);
  const perUnit = unit === 3 ? 10_000 : unit === 2 ? 25_400 : 0;
  const convert = (res: number | undefined): number | null => {
    if (!perUnit || !res || !Number.isFinite(res) || res <= 0) return null;
    const dpi = unit === 3 ? res * 2.54 : res;
    if (PLACEHOLDER_DPI.some((d) => Math.abs(dpi - d) / d < 1e-3)) return null;
    const mpp = perUnit / res;
    return mpp >= MPP_RANGE[0] && mpp <= MPP_RANGE[1] ? mpp : null;
  };
  const x = convert(ifd.num(TAG.XResolution));
  const y = convert(ifd.num(TAG.YResolution));
  return { x: x ?? y, y: y ?? x };
}

/** A number from free text ('20', '0.4990', '10x'), or null. */
export function parseNumber(s: string | undefined | null): number | null {
  if (s == null) return null;
  const m = /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(s);
  if (!m) return null;
  const v = Number(m[0]);
  return Number.isFinite(v) ? v : null;
}

/** A positive finite number or null. */
export function positiveOrNull(v: number | null | undefined): number | null {
  return v != null && Number.isFinite(v) && v > 0 ? v : null;
}
