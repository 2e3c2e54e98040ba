import { describe, expect, it } from 'vitest';
import { levelFor, nextZoomTiles, topLevel } from './prefetch.ts';

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
