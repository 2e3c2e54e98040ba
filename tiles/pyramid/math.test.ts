import { describe, expect, it } from 'vitest';
import { dziLevelCount, dziLevelSize, storedLevels, tileRect } from './math.ts';

describe('storedLevels: powers of two down to one tile', () => {
  it('1000 x 777 at 256 px: three levels, floor halving, last fits one tile', () => {
    expect(storedLevels(1000, 777, 256).map((l) => [l.width, l.height, l.tilesX, l.tilesY])).toEqual([
      [1000, 777, 4, 4],
      [500, 388, 2, 2],
      [250, 194, 1, 1],
    ]);
  });
  it('1 x 1 is a single level of one tile', () => {
    expect(storedLevels(1, 1, 256)).toEqual([
      { index: 0, width: 1, height: 1, downsample: 1, tilesX: 1, tilesY: 1 },
    ]);
  });
  it('257 x 255: one pixel over the tile size needs a second level', () => {
    expect(storedLevels(257, 255, 256).map((l) => [l.width, l.height, l.tilesX])).toEqual([
      [257, 255, 2],
      [128, 127, 1],
    ]);
  });
  it('very elongated images keep halving the long side, the short side stops at 1 px', () => {
    const levels = storedLevels(100_000, 3, 256);
    expect(levels.at(-1)).toMatchObject({ width: 195, height: 1, tilesX: 1, tilesY: 1 });
    expect(levels.every((l) => l.height >= 1)).toBe(true);
  });
  it('downsample doubles at each level', () => {
    expect(storedLevels(60_000, 45_000, 256).map((l) => l.downsample)).toEqual([
      1, 2, 4, 8, 16, 32, 64, 128, 256,
    ]);
  });
  it('rejects non-integer and zero sizes with a message naming the parameter', () => {
    expect(() => storedLevels(0, 10, 256)).toThrow('Expected positive integer for width but received 0');
    expect(() => storedLevels(10, 1.5, 256)).toThrow(/height/);
  });
});

describe('tileRect: edge tiles of odd sizes', () => {
  const level = { width: 1000, height: 777 };
  it('interior tile is full size', () => {
    expect(tileRect(level, 256, 1, 1)).toEqual({ x: 256, y: 256, width: 256, height: 256 });
  });
  it('last column and row are cut to the image', () => {
    expect(tileRect(level, 256, 3, 3)).toEqual({ x: 768, y: 768, width: 232, height: 9 });
  });
  it('outside the level there is no tile', () => {
    expect(tileRect(level, 256, 4, 0)).toBeNull();
    expect(tileRect(level, 256, 0, 4)).toBeNull();
    expect(tileRect(level, 256, -1, 0)).toBeNull();
  });
});

describe('Deep Zoom level numbering', () => {
  it('1000 x 777: 11 levels, level 0 is 1 x 1, the top level is full size', () => {
    expect(dziLevelCount(1000, 777)).toBe(11);
    expect(dziLevelSize(1000, 777, 0)).toEqual({ width: 1, height: 1 });
    expect(dziLevelSize(1000, 777, 10)).toEqual({ width: 1000, height: 777 });
    expect(dziLevelSize(1000, 777, 9)).toEqual({ width: 500, height: 389 });
  });
  it('1 x 1 has one level', () => {
    expect(dziLevelCount(1, 1)).toBe(1);
  });
  it('257 x 255', () => {
    expect(dziLevelCount(257, 255)).toBe(10);
    expect(dziLevelSize(257, 255, 8)).toEqual({ width: 129, height: 128 });
  });
});
