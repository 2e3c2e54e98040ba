/**
 * The request mix of the tile benchmark: what a pathologist's viewer asks for while panning and
 * zooming one slide. Pure and seeded, so every run (and every contender) replays the same tiles.
 */
import { dziLevelCount, dziLevelSize } from '../../../tiles/index.ts';
import { prng } from '../../prng.ts';

export { prng };

export interface TileRequest {
  level: number;
  col: number;
  row: number;
}

export interface MixOptions {
  width: number;
  height: number;
  /** Deep Zoom tile size (no overlap). */
  tileSize?: number;
  /** Viewer canvas in screen pixels; at a level's own zoom one screen pixel is one level pixel. */
  viewport?: { width: number; height: number };
  /** The mix stops at the first field of view that reaches this many tiles. */
  count: number;
  seed: number;
  /** Share of fields of view at the top level, the next one down, and so on. */
  levelWeights?: readonly number[];
}

/**
 * Where reading time goes: most of it at the top four or five levels (20x to 40x and just below),
 * a little on overview levels to find the next region. Normalised when used.
 */
export const DEFAULT_LEVEL_WEIGHTS: readonly number[] = [0.22, 0.24, 0.2, 0.12, 0.08, 0.06, 0.04, 0.02, 0.02];

export const DEFAULT_VIEWPORT = { width: 1920, height: 1080 } as const;

/** Deep Zoom tile grid of one level: standard numbering, the top level is full resolution. */
export function dziGrid(
  width: number,
  height: number,
  level: number,
  tileSize = 256,
): { width: number; height: number; cols: number; rows: number } {
  const size = dziLevelSize(width, height, level);
  return { ...size, cols: Math.ceil(size.width / tileSize), rows: Math.ceil(size.height / tileSize) };
}

/**
 * Fields of view at random centres and random levels (by `levelWeights`), each the tiles a viewer
 * of `viewport` size shows there, row by row, cut to the level's grid. A level smaller than the
 * viewer is shown whole.
 */
export function tileMix(opts: MixOptions): TileRequest[] {
  const tileSize = opts.tileSize ?? 256;
  const view = opts.viewport ?? DEFAULT_VIEWPORT;
  const top = dziLevelCount(opts.width, opts.height) - 1;
  const weights = (opts.levelWeights ?? DEFAULT_LEVEL_WEIGHTS).slice(0, top + 1);
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0) || weights.some((w) => !(w >= 0))) {
    throw new RangeError(
      `Expected non-negative level weights with a positive sum but received ${weights.join(',')}`,
    );
  }
  if (!Number.isInteger(opts.count) || opts.count < 1) {
    throw new RangeError(`Expected positive integer for count but received ${opts.count}`);
  }
  const rand = prng(opts.seed);
  const out: TileRequest[] = [];
  while (out.length < opts.count) {
    let pick = rand() * total;
    let offset = 0;
    while (offset < weights.length - 1 && pick >= weights[offset]!) pick -= weights[offset++]!;
    const level = top - offset;
    const grid = dziGrid(opts.width, opts.height, level, tileSize);
    const cx = rand() * grid.width;
    const cy = rand() * grid.height;
    const span = (centre: number, extent: number, size: number, tiles: number): [number, number] => {
      if (size <= extent) return [0, tiles - 1];
      // Slide the window inside the level, as a viewer clamps panning at the slide's edges.
      const start = Math.min(Math.max(0, centre - extent / 2), size - extent);
      return [Math.floor(start / tileSize), Math.min(tiles - 1, Math.floor((start + extent - 1) / tileSize))];
    };
    const [c0, c1] = span(cx, view.width, grid.width, grid.cols);
    const [r0, r1] = span(cy, view.height, grid.height, grid.rows);
    for (let row = r0; row <= r1; row++) {
      for (let col = c0; col <= c1; col++) out.push({ level, col, row });
    }
  }
  return out;
}

/** The Deep Zoom path of a tile under a base such as `/slides/{id}_files` or `/slide_files`. */
export function tilePath(base: string, t: TileRequest): string {
  return `${base}/${t.level}/${t.col}_${t.row}.jpeg`;
}
