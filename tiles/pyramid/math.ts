import type { StoredLevel } from '../../protocol/index.ts';

/** Tile sizes the store writes; 256 is the default (see README, "Tile size"). */
export const TILE_SIZES = [256, 512] as const;
export type TileSize = (typeof TILE_SIZES)[number];

/**
 * The stored pyramid: level 0 at full resolution, each next level half the previous one (rounded
 * down, never below 1 px, as libvips builds it) until a level fits in a single tile.
 */
export function storedLevels(width: number, height: number, tileSize: number): StoredLevel[] {
  assertDims(width, height, tileSize);
  const levels: StoredLevel[] = [];
  let w = width;
  let h = height;
  for (let index = 0; ; index++) {
    levels.push({
      index,
      width: w,
      height: h,
      downsample: 2 ** index,
      tilesX: Math.ceil(w / tileSize),
      tilesY: Math.ceil(h / tileSize),
    });
    if (w <= tileSize && h <= tileSize) return levels;
    w = Math.max(1, Math.floor(w / 2));
    h = Math.max(1, Math.floor(h / 2));
  }
}

/** Pixel rectangle of tile (col, row) on a level; edge tiles are cut to the level's size. */
export function tileRect(
  level: Pick<StoredLevel, 'width' | 'height'>,
  tileSize: number,
  col: number,
  row: number,
): { x: number; y: number; width: number; height: number } | null {
  const x = col * tileSize;
  const y = row * tileSize;
  if (!Number.isInteger(col) || !Number.isInteger(row) || col < 0 || row < 0) return null;
  if (x >= level.width || y >= level.height) return null;
  return { x, y, width: Math.min(tileSize, level.width - x), height: Math.min(tileSize, level.height - y) };
}

/**
 * Deep Zoom levels: DZI level L has size ceil(size / 2^(maxLevel - L)); the top level is full
 * resolution and level 0 is 1 x 1.
 */
export function dziLevelCount(width: number, height: number): number {
  assertDims(width, height, 1);
  return Math.ceil(Math.log2(Math.max(width, height))) + 1;
}

export function dziLevelSize(
  width: number,
  height: number,
  level: number,
): { width: number; height: number } {
  const max = dziLevelCount(width, height) - 1;
  const scale = 2 ** (max - level);
  return { width: Math.max(1, Math.ceil(width / scale)), height: Math.max(1, Math.ceil(height / scale)) };
}

function assertDims(width: number, height: number, tileSize: number): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['tile size', tileSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`Expected positive integer for ${name} but received ${v}`);
  }
}
