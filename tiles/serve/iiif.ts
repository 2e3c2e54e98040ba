import { SlideError } from '../errors.ts';
import { type PyramidShape, type Rect, type TilePlan, levelTilePlan, sourceLevel } from './plan.ts';

/** Server limits on the size of one IIIF image (all but maxUpscale appear in info.json). */
export interface IiifLimits {
  maxWidth: number;
  maxHeight: number;
  maxArea: number;
  /**
   * How many times larger than its region, per side, an upscaled (`^`) image may be. Level 0 is the
   * scanner's own resolution: beyond a little overzoom, interpolation shows nothing new and only
   * costs encoding time.
   */
  maxUpscale: number;
}

/**
 * 4096² pixels covers a 4K screen and encodes in about a second here; images of 100 Mpx take several
 * seconds each, and a few of them held every render slot for minutes.
 */
export const DEFAULT_IIIF_LIMITS: IiifLimits = Object.freeze({
  maxWidth: 8192,
  maxHeight: 8192,
  maxArea: 4096 * 4096,
  maxUpscale: 2,
});

export const IIIF_FORMATS = ['jpg', 'png', 'webp'] as const;
export type IiifFormat = (typeof IIIF_FORMATS)[number];
export type IiifQuality = 'default' | 'color' | 'gray';
export type IiifRotation = 0 | 90 | 180 | 270;

/** A validated IIIF image request, in full-resolution pixels. */
export interface IiifRequest {
  /** The region, already cropped to the image. */
  region: Rect;
  /** Size of the scaled region, before rotation. */
  width: number;
  height: number;
  /** Mirror horizontally before rotating (the `!` prefix). */
  mirror: boolean;
  /** Clockwise degrees. */
  rotation: IiifRotation;
  /** 'default' is colour for these slides, so it is stored as 'color'. */
  quality: 'color' | 'gray';
  format: IiifFormat;
  /** Canonical form: equal keys mean equal images (used for cache keys and ETags). */
  key: string;
}

export const IIIF_CONTENT_TYPES: Record<IiifFormat, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

const INT = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;

function invalid(message: string): SlideError {
  return new SlideError('INVALID_PARAMETER', message);
}

function shown(v: string): string {
  return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
}

/**
 * Parse and check the four path parameters of an IIIF Image API 3.0 request against an image of
 * `imageWidth` x `imageHeight` and the server limits. Throws SlideError('INVALID_PARAMETER') with a
 * message naming the parameter and the value received.
 */
export function parseIiif(
  region: string,
  size: string,
  rotation: string,
  qualityDotFormat: string,
  imageWidth: number,
  imageHeight: number,
  limits: IiifLimits = DEFAULT_IIIF_LIMITS,
): IiifRequest {
  const r = parseRegion(region, imageWidth, imageHeight);
  const { width, height } = parseSize(size, r, limits);
  const rot = parseRotation(rotation);
  const qf = parseQualityFormat(qualityDotFormat);
  const key = `${r.x},${r.y},${r.width},${r.height}/${width},${height}/${rot.mirror ? '!' : ''}${rot.rotation}/${qf.quality}.${qf.format}`;
  return { region: r, width, height, ...rot, ...qf, key };
}

/** The region parameter: full, square, x,y,w,h or pct:x,y,w,h, cropped to the image. */
export function parseRegion(region: string, imageWidth: number, imageHeight: number): Rect {
  if (region === 'full') return { x: 0, y: 0, width: imageWidth, height: imageHeight };
  if (region === 'square') {
    const side = Math.min(imageWidth, imageHeight);
    return {
      x: Math.floor((imageWidth - side) / 2),
      y: Math.floor((imageHeight - side) / 2),
      width: side,
      height: side,
    };
  }
  const pct = region.startsWith('pct:');
  const parts = (pct ? region.slice(4) : region).split(',');
  const pattern = pct ? DECIMAL : INT;
  if (parts.length !== 4 || !parts.every((p) => pattern.test(p))) {
    throw invalid(
      `Expected full, square, x,y,w,h or pct:x,y,w,h with ${pct ? 'non-negative numbers' : 'non-negative integers'} for region but received ${shown(region)}`,
    );
  }
  let [x, y, w, h] = parts.map(Number) as [number, number, number, number];
  if (pct) {
    if (x > 100 || y > 100)
      throw invalid(`Expected x and y between 0 and 100 for region but received ${shown(region)}`);
    const x1 = Math.round(((x + w) * imageWidth) / 100);
    const y1 = Math.round(((y + h) * imageHeight) / 100);
    x = Math.round((x * imageWidth) / 100);
    y = Math.round((y * imageHeight) / 100);
    w = x1 - x;
    h = y1 - y;
  }
  if (w <= 0 || h <= 0)
    throw invalid(`Expected a region of positive width and height but received ${shown(region)}`);
  if (x >= imageWidth || y >= imageHeight) {
    throw invalid(
      `Expected a region inside the ${imageWidth}x${imageHeight} image but received ${shown(region)}`,
    );
  }
  return { x, y, width: Math.min(w, imageWidth - x), height: Math.min(h, imageHeight - y) };
}

/**
 * The size parameter: max, w,, ,h, pct:n, w,h, !w,h, each with an optional ^ to allow upscaling (up
 * to maxUpscale times the region per side). The result must fit the limits; `max` is the region
 * scaled down into them, `^max` and `^!w,h` stop at the upscaling limit, the other forms beyond it
 * are refused.
 */
export function parseSize(
  size: string,
  region: Rect,
  limits: IiifLimits = DEFAULT_IIIF_LIMITS,
): { width: number; height: number } {
  const up = size.startsWith('^');
  const s = up ? size.slice(1) : size;
  const rw = region.width;
  const rh = region.height;
  const form = `max, w,, ,h, pct:n, w,h or !w,h (each optionally after ^)`;
  let width: number;
  let height: number;
  if (s === 'max') {
    const fit = Math.min(limits.maxWidth / rw, limits.maxHeight / rh, Math.sqrt(limits.maxArea / (rw * rh)));
    const scale = Math.min(up ? limits.maxUpscale : 1, fit);
    width = Math.max(1, Math.floor(rw * scale + 1e-9));
    height = Math.max(1, Math.floor(rh * scale + 1e-9));
    return { width, height };
  }
  if (s.startsWith('pct:')) {
    const n = s.slice(4);
    if (!DECIMAL.test(n)) throw invalid(`Expected a number for size pct:n but received ${shown(size)}`);
    const p = Number(n);
    if (p <= 0 || (!up && p > 100)) {
      throw invalid(
        `Expected a percentage ${up ? 'above 0' : 'between 0 (excluded) and 100'} for size but received ${shown(size)}`,
      );
    }
    width = Math.round((rw * p) / 100);
    height = Math.round((rh * p) / 100);
    if (width < 1 || height < 1)
      throw invalid(
        `Expected a size of at least 1x1 but received ${shown(size)} (${width}x${height} of a ${rw}x${rh} region)`,
      );
  } else {
    const confined = s.startsWith('!');
    const parts = (confined ? s.slice(1) : s).split(',');
    if (parts.length !== 2) throw invalid(`Expected ${form} for size but received ${shown(size)}`);
    const [ws, hs] = parts as [string, string];
    if (
      (ws !== '' && !INT.test(ws)) ||
      (hs !== '' && !INT.test(hs)) ||
      (ws === '' && hs === '') ||
      (confined && (ws === '' || hs === ''))
    ) {
      throw invalid(`Expected ${form} with integers for size but received ${shown(size)}`);
    }
    const w = ws === '' ? null : Number(ws);
    const h = hs === '' ? null : Number(hs);
    if (w === 0 || h === 0) throw invalid(`Expected a size of at least 1x1 but received ${shown(size)}`);
    if (confined) {
      const fit = Math.min(w! / rw, h! / rh);
      // A box to fit in, like max: its answer may be smaller than the box, so it stops at the limit.
      const scale = Math.min(up ? limits.maxUpscale : 1, fit);
      width = Math.min(w!, Math.max(1, Math.round(rw * scale)));
      height = Math.min(h!, Math.max(1, Math.round(rh * scale)));
    } else if (w !== null && h !== null) {
      width = w;
      height = h;
    } else if (w !== null) {
      width = w;
      height = Math.max(1, Math.round((rh * w) / rw));
    } else {
      height = h!;
      width = Math.max(1, Math.round((rw * height) / rh));
    }
  }
  if (!up && (width > rw || height > rh)) {
    throw invalid(
      `Expected a size no larger than the ${rw}x${rh} region (prefix ^ to upscale) but received ${shown(size)} (${width}x${height})`,
    );
  }
  if (width > limits.maxWidth || height > limits.maxHeight || width * height > limits.maxArea) {
    throw invalid(
      `Expected a size within ${limits.maxWidth}x${limits.maxHeight} and ${limits.maxArea} pixels but received ${shown(size)} (${width}x${height})`,
    );
  }
  if (up && (width > Math.round(rw * limits.maxUpscale) || height > Math.round(rh * limits.maxUpscale))) {
    throw invalid(
      `Expected a size at most ${limits.maxUpscale}x the ${rw}x${rh} region (upscaling is limited to ${limits.maxUpscale}x) but received ${shown(size)} (${width}x${height})`,
    );
  }
  return { width, height };
}

/** The rotation parameter: 0, 90, 180 or 270 degrees clockwise, optionally after ! (mirror first). */
export function parseRotation(rotation: string): { mirror: boolean; rotation: IiifRotation } {
  const mirror = rotation.startsWith('!');
  const r = mirror ? rotation.slice(1) : rotation;
  if (r !== '0' && r !== '90' && r !== '180' && r !== '270') {
    throw invalid(
      `Expected 0, 90, 180 or 270, optionally after !, for rotation but received ${shown(rotation)}`,
    );
  }
  return { mirror, rotation: Number(r) as IiifRotation };
}

/** The quality.format parameter. */
export function parseQualityFormat(qf: string): { quality: 'color' | 'gray'; format: IiifFormat } {
  const dot = qf.lastIndexOf('.');
  const quality = dot < 0 ? qf : qf.slice(0, dot);
  const format = dot < 0 ? '' : qf.slice(dot + 1);
  if (quality === 'bitonal') {
    throw invalid(
      'Expected default, color or gray for quality but received "bitonal" (bitonal is not offered for slides)',
    );
  }
  if (quality !== 'default' && quality !== 'color' && quality !== 'gray') {
    throw invalid(`Expected default, color or gray for quality but received ${shown(quality)}`);
  }
  if (!(IIIF_FORMATS as readonly string[]).includes(format)) {
    throw invalid(`Expected one of ${IIIF_FORMATS.join(', ')} for format but received ${shown(format)}`);
  }
  return { quality: quality === 'gray' ? 'gray' : 'color', format: format as IiifFormat };
}

/**
 * The whole-image sizes to list in info.json, smallest first: the stored levels that a `full/w,h`
 * request gets within the limits (level 0 of a large slide is above them). When even the smallest
 * level is too large for the limits, the one size `full/max` gives, so a client is never offered a
 * size it would be refused, nor left without one.
 */
export function servedSizes(
  m: PyramidShape,
  limits: IiifLimits = DEFAULT_IIIF_LIMITS,
  maxReadArea = Number.POSITIVE_INFINITY,
): { width: number; height: number }[] {
  const full = { x: 0, y: 0, width: m.width, height: m.height };
  // A level's own size is read from that level: its area is what the request decodes.
  const sizes = m.levelInfo
    .map((l) => ({ width: l.width, height: l.height }))
    .filter((s) => s.width * s.height <= maxReadArea && fits(`${s.width},${s.height}`, full, limits))
    .reverse();
  return sizes.length > 0 ? sizes : [parseSize('max', full, limits)];
}

/** Whether a size parameter is accepted for `region` (the same check a request goes through). */
function fits(size: string, region: Rect, limits: IiifLimits): boolean {
  try {
    parseSize(size, region, limits);
    return true;
  } catch {
    return false;
  }
}

/**
 * The IIIF Image API 3.0 image information (info.json) of a slide. `id` is the image's base URL as
 * the client reached it (or as configured), never derived from where the slide is stored.
 */
export function iiifInfo(
  m: PyramidShape,
  id: string,
  limits: IiifLimits = DEFAULT_IIIF_LIMITS,
  maxReadArea = Number.POSITIVE_INFINITY,
): Record<string, unknown> {
  return {
    '@context': 'http://iiif.io/api/image/3/context.json',
    id,
    type: 'ImageService3',
    protocol: 'http://iiif.io/api/image',
    profile: 'level2',
    width: m.width,
    height: m.height,
    maxWidth: limits.maxWidth,
    maxHeight: limits.maxHeight,
    maxArea: limits.maxArea,
    tiles: [{ width: m.tileSize, height: m.tileSize, scaleFactors: m.levelInfo.map((_, k) => 2 ** k) }],
    sizes: servedSizes(m, limits, maxReadArea),
    extraFormats: ['png', 'webp'],
    extraQualities: ['color', 'gray'],
    extraFeatures: [
      'baseUriRedirect',
      'jsonldMediaType',
      'mirroring',
      'regionByPct',
      'regionByPx',
      'regionSquare',
      'rotationBy90s',
      'sizeByConfinedWh',
      'sizeByH',
      'sizeByPct',
      'sizeByW',
      'sizeByWh',
      'sizeUpscaling',
    ],
  };
}

/**
 * Refuse a render that reads more than `maxReadArea` source pixels. The plan already reads the
 * smallest level with enough pixels, so this only catches requests whose size distorts the region
 * (e.g. a whole slide squeezed to 8192 x 1 still needs a level 8192 px wide, all of it decoded).
 */
export function checkIiifRead(plan: TilePlan, req: IiifRequest, maxReadArea: number): void {
  if (plan.kind !== 'render') return;
  const read = plan.src.width * plan.src.height;
  if (read <= maxReadArea) return;
  const r = req.region;
  throw invalid(
    `Expected a request reading at most ${maxReadArea} source pixels but received region ${r.x},${r.y},${r.width},${r.height} at ${req.width}x${req.height}, which reads ${plan.src.width}x${plan.src.height} pixels (ask for a size closer to the region's shape or a smaller region)`,
  );
}

/**
 * How to make an IIIF image. A request for exactly one stored tile at scale 2^k (the tile's region,
 * its stored size, no rotation, colour, JPEG) is that tile's bytes; everything else is rendered from
 * the smallest level that still has the pixels asked for.
 */
export function iiifPlan(shape: PyramidShape, req: IiifRequest): TilePlan {
  const { region: r, width, height } = req;
  const t = shape.tileSize;
  if (req.rotation === 0 && !req.mirror && req.quality === 'color' && req.format === 'jpg' && width === t) {
    for (let k = 0; k < shape.levelInfo.length; k++) {
      const span = t * 2 ** k;
      if (r.x % span !== 0 || r.y % span !== 0) continue;
      if (r.width !== Math.min(span, shape.width - r.x) || r.height !== Math.min(span, shape.height - r.y))
        continue;
      const level = shape.levelInfo[k]!;
      const x = r.x / 2 ** k;
      const y = r.y / 2 ** k;
      if (x + width > level.width || height !== Math.min(t, level.height - y)) continue;
      return levelTilePlan(shape, k, x, y, width, height);
    }
  }
  const { level, src } = sourceLevel(shape, r, width, height);
  return { kind: 'render', level, src, extendRight: 0, extendBottom: 0, width, height };
}
