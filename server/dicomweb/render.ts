import type { Manifest } from '../../protocol/index.ts';
import type { SeriesInstance } from '../../tiles/export/dicom-attributes.ts';
import type { RenderRequest, TileResult, TileService } from '../../tiles/serve/index.ts';
import { HttpError } from '../http/errors.ts';

/** Default longest side of a DICOMweb thumbnail. */
export const THUMBNAIL_SIZE = 256;

/**
 * WADO-RS rendered and thumbnail images through the tile service's renders (the render queue, the
 * cache): an instance that is a pyramid level shows the whole slide at that level's size, the label
 * or overview its stored image, a series or study (instance null) the whole slide. `viewport` is
 * `vw,vh` (for `rendered` of a level also `vw,vh,sx,sy,sw,sh`, the region in that level's pixels);
 * the image is fitted inside it and never enlarged. Without one a rendered level is its own size
 * within the server's image limits, a thumbnail THUMBNAIL_SIZE on its longer side. Null when the
 * stored image has gone.
 */
export async function renderImage(
  tiles: TileService,
  slideId: string,
  manifest: Manifest,
  instance: SeriesInstance | null,
  kind: 'rendered' | 'thumbnail',
  viewport: string | undefined,
  format: 'jpg' | 'png',
  who: RenderRequest,
): Promise<TileResult | null> {
  const vp = parseViewport(viewport, kind === 'rendered' && instance?.kind === 'VOLUME');
  if (instance && instance.kind !== 'VOLUME') {
    const dflt = kind === 'thumbnail' ? THUMBNAIL_SIZE : 4 * 2048;
    return tiles.associatedImage(
      slideId,
      instance.associated!,
      vp?.width ?? dflt,
      vp?.height ?? dflt,
      format,
      who,
    );
  }
  const level = manifest.levelInfo[instance?.level ?? 0]!;
  // Region in full-resolution pixels: the level's pixels scaled up by the level's true downsample.
  let region = 'full';
  // What is shown, in the instance's own pixels: what a viewport is fitted to.
  let shown = { width: level.width, height: level.height };
  if (vp?.region) {
    const r = vp.region;
    if (r.x >= level.width || r.y >= level.height)
      throw new HttpError(
        'INVALID_PARAMETER',
        `viewport region starts outside the ${level.width} x ${level.height} image`,
      );
    shown = { width: Math.min(r.width, level.width - r.x), height: Math.min(r.height, level.height - r.y) };
    // The region in full-resolution pixels: scaled by the level's true downsample.
    const fx = manifest.width / level.width;
    const fy = manifest.height / level.height;
    const x = Math.floor(r.x * fx);
    const y = Math.floor(r.y * fy);
    const w = Math.max(1, Math.min(manifest.width - x, Math.ceil(shown.width * fx)));
    const h = Math.max(1, Math.min(manifest.height - y, Math.ceil(shown.height * fy)));
    region = `${x},${y},${w},${h}`;
  }
  let box: { width: number; height: number };
  if (vp) box = vp;
  else if (kind === 'thumbnail') box = { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE };
  else box = shown;
  const out = fitWithin(shown, box, tiles.limits);
  if (kind === 'thumbnail' && format === 'jpg' && region === 'full') {
    return tiles.thumbnail(slideId, Math.max(out.width, out.height), who);
  }
  return tiles.iiifImage(slideId, region, `${out.width},${out.height}`, '0', `default.${format}`, who);
}

interface Viewport {
  width: number;
  height: number;
  region?: { x: number; y: number; width: number; height: number };
}

/** `vw,vh` or (where a region is allowed) `vw,vh,sx,sy,sw,sh`; undefined when absent. */
function parseViewport(raw: string | undefined, regionAllowed: boolean): Viewport | undefined {
  if (raw === undefined || raw === '') return undefined;
  const parts = raw.split(',');
  const ints = parts.map((s) => (/^\d{1,6}$/.test(s.trim()) ? Number(s.trim()) : NaN));
  const ok =
    (parts.length === 2 || (regionAllowed && parts.length === 6)) &&
    ints.every((n) => Number.isInteger(n)) &&
    ints[0]! >= 1 &&
    ints[1]! >= 1 &&
    (parts.length === 2 || (ints[4]! >= 1 && ints[5]! >= 1));
  if (!ok)
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected viewport as vw,vh${regionAllowed ? ' or vw,vh,sx,sy,sw,sh' : ''} with positive integers but received ${JSON.stringify(raw.slice(0, 64))}`,
    );
  const [width, height, x, y, w, h] = ints as [number, number, number?, number?, number?, number?];
  return parts.length === 6
    ? { width, height, region: { x: x!, y: y!, width: w!, height: h! } }
    : { width, height };
}

/** The size of `src` scaled to fit `box` (keeping its shape) and the server's output limits. */
function fitWithin(
  src: { width: number; height: number },
  box: { width: number; height: number },
  limits: { maxWidth: number; maxHeight: number; maxArea: number },
): { width: number; height: number } {
  const w0 = Math.min(box.width, limits.maxWidth);
  const h0 = Math.min(box.height, limits.maxHeight);
  let scale = Math.min(w0 / src.width, h0 / src.height);
  if (src.width * src.height * scale * scale > limits.maxArea)
    scale = Math.sqrt(limits.maxArea / (src.width * src.height));
  // Never beyond the region's own pixels: DICOMweb renders fit a viewport, they do not enlarge.
  scale = Math.min(scale, 1);
  return {
    width: Math.max(1, Math.floor(src.width * scale)),
    height: Math.max(1, Math.floor(src.height * scale)),
  };
}
