import { dziLevelCount, dziLevelSize } from '../pyramid/math.ts';
import { type PyramidShape, type TilePlan, levelTilePlan } from './plan.ts';

/**
 * The Deep Zoom descriptor (.dzi) of a stored slide: tiles of the store's size, no overlap, JPEG,
 * so that Deep Zoom tiles line up with stored tiles and most of them are stored bytes.
 */
export function dziDescriptor(m: Pick<PyramidShape, 'width' | 'height' | 'tileSize'>): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" TileSize="${m.tileSize}" Overlap="0" Format="jpeg">` +
    `<Size Width="${m.width}" Height="${m.height}"/></Image>\n`
  );
}

/**
 * How to make Deep Zoom tile (col, row) of level `level`, or null when there is no such tile.
 *
 * Deep Zoom level L (top = full resolution) is stored level k = top - L when the store has it. Tiles
 * inside the stored level are its tiles; bottom-edge tiles of full width are stored tiles with a
 * lower frame height; right-edge tiles and those past the stored level's edge (Deep Zoom rounds sizes
 * up, libvips down) are cropped from the stored tile. Levels smaller than the smallest stored level
 * are that level scaled down.
 */
export function dziPlan(shape: PyramidShape, level: number, col: number, row: number): TilePlan | null {
  if (!Number.isSafeInteger(level) || !Number.isSafeInteger(col) || !Number.isSafeInteger(row)) return null;
  const levels = dziLevelCount(shape.width, shape.height);
  if (level < 0 || level >= levels || col < 0 || row < 0) return null;
  const size = dziLevelSize(shape.width, shape.height, level);
  const t = shape.tileSize;
  const x = col * t;
  const y = row * t;
  if (x >= size.width || y >= size.height) return null;
  const width = Math.min(t, size.width - x);
  const height = Math.min(t, size.height - y);
  const k = levels - 1 - level;
  if (k < shape.levelInfo.length) return levelTilePlan(shape, k, x, y, width, height);
  // Below the pyramid: the whole level is one tile, scaled from the smallest stored level.
  const last = shape.levelInfo.length - 1;
  const l = shape.levelInfo[last]!;
  return {
    kind: 'render',
    level: last,
    src: { x: 0, y: 0, width: l.width, height: l.height },
    extendRight: 0,
    extendBottom: 0,
    width,
    height,
  };
}
