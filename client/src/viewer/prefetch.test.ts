import { describe, expect, it } from 'vitest';
import { firstViewTiles, levelFor, nextZoomTiles, topLevel } from './prefetch.ts';

const slide = { width: 60_000, height: 45_000, tileSize: 512 };

describe('the level drawn at a zoom', () => {
  it('is the finest whose pixels are at least minPixelRatio screen pixels', () => {
    expect(topLevel(slide)).toBe(16);
    expect(topLevel({ width: 1, height: 1, tileSize: 256 })).toBe(0);
    // One screen pixel per image pixel and beyond: full resolution.
    expect(levelFor(slide, 1, 0.7)).toBe(16);
    expect(levelFor(slide, 4, 0.7)).toBe(16);
    // 0.5: level 16 pixels are 0.5 px (< 0.7), level 15 pixels 1 px.
    expect(levelFor(slide, 0.5, 0.7)).toBe(15);
    expect(levelFor(slide, 0.35, 0.7)).toBe(15);
    expect(levelFor(slide, 0.34, 0.7)).toBe(14);
    // The fitted bench view: 1080 / 45000 screen pixels per image pixel.
    expect(levelFor(slide, 0.024, 0.7)).toBe(11);
    expect(levelFor(slide, 0, 0.7)).toBe(0);
  });
});

describe('tiles ahead of a zoom-in', () => {
  const view = { x: 20_000, y: 10_000, width: 8_000, height: 4_500 };

  it('are those of the next level under the middle of the view, nearest the centre first', () => {
    // 0.24 px per image px draws level 14 (pixels 0.96 px); 1.5x more draws level 15 (0.72 px).
    const tiles = nextZoomTiles(slide, view, 0.24, 0.7, 1.5, 100);
    expect(tiles.length).toBeGreaterThan(0);
    expect(new Set(tiles.map((t) => t.level))).toEqual(new Set([15]));
    // Level 15 is half resolution: the middle 2/3 of the view, 5333 x 3000 image px, is
    // 2667 x 1500 level px around (12000, 6125) in level px.
    const cols = tiles.map((t) => t.col);
    const rows = tiles.map((t) => t.row);
    expect(Math.min(...cols)).toBe(Math.floor((12_000 - 1333.3) / 512));
    expect(Math.max(...cols)).toBe(Math.floor((12_000 + 1333.3) / 512));
    expect(Math.min(...rows)).toBe(Math.floor((6_125 - 750) / 512));
    expect(Math.max(...rows)).toBe(Math.floor((6_125 + 750) / 512));
    expect(tiles[0]).toEqual({ level: 15, col: Math.floor(12_000 / 512), row: Math.floor(6_125 / 512) });
    expect(nextZoomTiles(slide, view, 0.24, 0.7, 1.5, 4)).toEqual(tiles.slice(0, 4));
  });

  it('are none when the next step stays within the level, at full resolution or off the slide', () => {
    // 0.36 → 0.54: both draw level 15.
    expect(nextZoomTiles(slide, view, 0.36, 0.7, 1.5, 100)).toEqual([]);
    expect(nextZoomTiles(slide, view, 1, 0.7, 1.5, 100)).toEqual([]);
    expect(nextZoomTiles(slide, { ...view, x: 70_000 }, 0.24, 0.7, 1.5, 100)).toEqual([]);
  });

  it('stay inside the level at the slide edges', () => {
    const corner = { x: 55_000, y: 42_000, width: 8_000, height: 4_500 };
    const tiles = nextZoomTiles(slide, corner, 0.24, 0.7, 1.5, 100);
    expect(tiles.length).toBeGreaterThan(0);
    for (const t of tiles) {
      expect(t.col).toBeLessThan(Math.ceil(30_000 / 512));
      expect(t.row).toBeLessThan(Math.ceil(22_500 / 512));
    }
  });
});

describe('tiles of the first view', () => {
  const pane = { width: 1620, height: 953 };

  it('fitted: every tile of the level drawn at the fitted zoom, the centre first', () => {
    // Fitted by height (953 / 45,000 screen px per image px).
    const zoom = Math.min(pane.width / slide.width, pane.height / slide.height);
    const level = levelFor(slide, zoom, 0.7);
    const tiles = firstViewTiles(slide, pane, null, 0.7, 1000);
    const scale = 2 ** (topLevel(slide) - level);
    const cols = Math.ceil(Math.ceil(slide.width / scale) / slide.tileSize);
    const rows = Math.ceil(Math.ceil(slide.height / scale) / slide.tileSize);
    expect(tiles).toHaveLength(cols * rows);
    expect(new Set(tiles.map((t) => t.level))).toEqual(new Set([level]));
    const centre = tiles[0]!;
    expect(Math.abs(centre.col + 0.5 - cols / 2)).toBeLessThanOrEqual(1);
    expect(Math.abs(centre.row + 0.5 - rows / 2)).toBeLessThanOrEqual(1);
    expect(firstViewTiles(slide, pane, null, 0.7, 5)).toEqual(tiles.slice(0, 5));
  });

  it('at a place: the tiles under the view there, turned views taking the other side as width', () => {
    const at = { x: 30_000, y: 20_000, imageZoom: 0.5, rotation: 0 };
    const tiles = firstViewTiles(slide, pane, at, 0.7, 1000);
    // 0.5 px per image px draws level 15 (1 px): each tile spans 1024 level-0 px.
    expect(new Set(tiles.map((t) => t.level))).toEqual(new Set([15]));
    const cols = new Set(tiles.map((t) => t.col));
    const rows = new Set(tiles.map((t) => t.row));
    // 1620 / 0.5 = 3240 level-0 px across from 28380 (columns 27 to 30), 1906 down from 19047 (rows 18 to 20).
    expect([Math.min(...cols), Math.max(...cols)]).toEqual([27, 30]);
    expect([Math.min(...rows), Math.max(...rows)]).toEqual([18, 20]);
    const turned = firstViewTiles(slide, pane, { ...at, rotation: 90 }, 0.7, 1000);
    const tcols = turned.map((t) => t.col);
    const trows = turned.map((t) => t.row);
    // Turned a quarter: 1906 across from 29047 (columns 28 to 30), 3240 down from 18380 (rows 17 to 21).
    expect([Math.min(...tcols), Math.max(...tcols)]).toEqual([28, 30]);
    expect([Math.min(...trows), Math.max(...trows)]).toEqual([17, 21]);
  });

  it('none for a pane not laid out, an empty slide or a rotation off the quarter turns', () => {
    expect(firstViewTiles(slide, { width: 0, height: 900 }, null, 0.7, 100)).toEqual([]);
    expect(firstViewTiles({ ...slide, width: 0 }, pane, null, 0.7, 100)).toEqual([]);
    expect(firstViewTiles(slide, pane, { x: 1, y: 1, imageZoom: 1, rotation: 45 }, 0.7, 100)).toEqual([]);
  });
});
