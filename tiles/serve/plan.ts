import type { StoredLevel } from '../../protocol/index.ts';

/** A pixel rectangle. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The parts of a manifest tile planning needs. */
export interface PyramidShape {
  width: number;
  height: number;
  tileSize: number;
  levelInfo: readonly Pick<StoredLevel, 'width' | 'height' | 'tilesX' | 'tilesY'>[];
}

/**
 * How to produce an image: the bytes of one stored tile as they are ('stored', with the frame height
 * lowered when `height` is below the tile size), or pixels of one stored level cropped, edge-extended
 * and scaled ('render').
 */
export type TilePlan = StoredPlan | RenderPlan;

export interface StoredPlan {
  kind: 'stored';
  level: number;
  col: number;
  row: number;
  /** Height to declare in the frame header; equals the tile size for an untouched tile. */
  height: number;
}

export interface RenderPlan {
  kind: 'render';
  level: number;
  /** Pixels to read, in the coordinates of stored level `level`; always inside it. */
  src: Rect;
  /** Columns / rows to add on the right / bottom by repeating the edge pixels. */
  extendRight: number;
  extendBottom: number;
  /** Output size; when it differs from src plus the extension, the pixels are resized to it. */
  width: number;
  height: number;
}

/**
 * The plan for the tile of a stored level with top-left (x, y) in that level and size `width` x
 * `height` (at most one tile). Pixels past the level's right / bottom edge (Deep Zoom sizes round up
 * where libvips rounds down, so a Deep Zoom level may be one pixel larger) repeat the edge.
 */
export function levelTilePlan(
  shape: PyramidShape,
  k: number,
  x: number,
  y: number,
  width: number,
  height: number,
): TilePlan {
  const t = shape.tileSize;
  const level = shape.levelInfo[k]!;
  const col = Math.floor(x / t);
  const row = Math.floor(y / t);
  const inside = x + width <= level.width && y + height <= level.height;
  if (inside && x % t === 0 && y % t === 0 && width === t && height <= t) {
    return { kind: 'stored', level: k, col, row, height };
  }
  // The rectangle lies in one stored tile, except a 1 px strip past the edge, which repeats the last
  // row / column (itself in one tile), so the source is never wider than what it shows.
  const sx = Math.min(x, level.width - 1);
  const sy = Math.min(y, level.height - 1);
  const src = {
    x: sx,
    y: sy,
    width: Math.min(x + width, level.width) - sx,
    height: Math.min(y + height, level.height) - sy,
  };
  return {
    kind: 'render',
    level: k,
    src,
    extendRight: width - src.width,
    extendBottom: height - src.height,
    width,
    height,
  };
}

/** The stored tile holding all of a rectangle of a stored level (one JPEG to decode), or null. */
export function withinOneTile(tileSize: number, r: Rect): { col: number; row: number } | null {
  const col = Math.floor(r.x / tileSize);
  const row = Math.floor(r.y / tileSize);
  if (Math.floor((r.x + r.width - 1) / tileSize) !== col) return null;
  if (Math.floor((r.y + r.height - 1) / tileSize) !== row) return null;
  return { col, row };
}

/**
 * The smallest stored level that still holds at least `outW` x `outH` pixels for a full-resolution
 * region, and the region in that level's coordinates. Stored levels halve with rounding down, so a
 * level's true scale is its size over the full size, not exactly 2^k.
 */
export function sourceLevel(
  shape: PyramidShape,
  region: Rect,
  outW: number,
  outH: number,
): { level: number; src: Rect } {
  for (let k = shape.levelInfo.length - 1; k >= 0; k--) {
    const src = scaleRect(shape, k, region);
    if ((src.width >= outW && src.height >= outH) || k === 0) return { level: k, src };
  }
  throw new RangeError('no stored levels');
}

/** A full-resolution rectangle in the coordinates of stored level k, rounded outwards, kept inside. */
export function scaleRect(shape: PyramidShape, k: number, r: Rect): Rect {
  const level = shape.levelInfo[k]!;
  const fx = level.width / shape.width;
  const fy = level.height / shape.height;
  const x0 = Math.min(level.width - 1, Math.floor(r.x * fx + 1e-9));
  const y0 = Math.min(level.height - 1, Math.floor(r.y * fy + 1e-9));
  const x1 = Math.min(level.width, Math.max(x0 + 1, Math.ceil((r.x + r.width) * fx - 1e-9)));
  const y1 = Math.min(level.height, Math.max(y0 + 1, Math.ceil((r.y + r.height) * fy - 1e-9)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}
