import { describe, expect, it } from 'vitest';
import { dziLevelCount, dziLevelSize, storedLevels } from '../pyramid/math.ts';
import { dziDescriptor, dziPlan } from './dzi.ts';
import type { PyramidShape } from './plan.ts';

function shape(width: number, height: number, tileSize = 256): PyramidShape {
  return { width, height, tileSize, levelInfo: storedLevels(width, height, tileSize) };
}

/** Every tile of every Deep Zoom level of a slide, with the size Deep Zoom says it has. */
function* allTiles(
  s: PyramidShape,
): Generator<{ level: number; col: number; row: number; w: number; h: number }> {
  const levels = dziLevelCount(s.width, s.height);
  for (let level = 0; level < levels; level++) {
    const size = dziLevelSize(s.width, s.height, level);
    for (let row = 0; row * s.tileSize < size.height; row++) {
      for (let col = 0; col * s.tileSize < size.width; col++) {
        const w = Math.min(s.tileSize, size.width - col * s.tileSize);
        const h = Math.min(s.tileSize, size.height - row * s.tileSize);
        yield { level, col, row, w, h };
      }
    }
  }
}

describe('dziDescriptor', () => {
  it('states tile size, no overlap, jpeg and the full size', () => {
    const xml = dziDescriptor({ width: 2220, height: 2967, tileSize: 256 });
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    expect(xml).toContain('xmlns="http://schemas.microsoft.com/deepzoom/2008"');
    expect(xml).toContain('TileSize="256" Overlap="0" Format="jpeg"');
    expect(xml).toContain('<Size Width="2220" Height="2967"/>');
  });
});

describe('dziPlan: every tile has exactly its Deep Zoom size', () => {
  it.each([
    [300, 250],
    [2220, 2967],
    [1000, 777],
    [257, 255],
    [256, 256],
    [1, 1],
    [513, 1025],
    [100_000, 3],
  ])('%i x %i', (width, height) => {
    const s = shape(width, height);
    for (const t of allTiles(s)) {
      const plan = dziPlan(s, t.level, t.col, t.row);
      const where = `${t.level}/${t.col}_${t.row}`;
      expect(plan, where).not.toBeNull();
      if (plan!.kind === 'stored') {
        // Stored bytes keep the tile's width, so only full-width tiles may be stored ones.
        expect([s.tileSize, plan!.height], where).toEqual([t.w, t.h]);
        const l = s.levelInfo[plan!.level]!;
        expect((plan!.col + 1) * s.tileSize, where).toBeLessThanOrEqual(l.width);
        expect(plan!.row * s.tileSize + plan!.height, where).toBeLessThanOrEqual(l.height);
      } else {
        expect([plan!.width, plan!.height], where).toEqual([t.w, t.h]);
        const l = s.levelInfo[plan!.level]!;
        const { src } = plan!;
        expect(src.x >= 0 && src.y >= 0 && src.width >= 1 && src.height >= 1, where).toBe(true);
        expect(src.x + src.width, where).toBeLessThanOrEqual(l.width);
        expect(src.y + src.height, where).toBeLessThanOrEqual(l.height);
        expect(plan!.extendRight, where).toBeLessThanOrEqual(1);
        expect(plan!.extendBottom, where).toBeLessThanOrEqual(1);
      }
    }
  });

  it('interior tiles of a level the store has are its stored tiles, untouched', () => {
    const s = shape(2220, 2967);
    const top = dziLevelCount(2220, 2967) - 1;
    expect(dziPlan(s, top, 3, 5)).toEqual({ kind: 'stored', level: 0, col: 3, row: 5, height: 256 });
    expect(dziPlan(s, top - 2, 1, 1)).toEqual({ kind: 'stored', level: 2, col: 1, row: 1, height: 256 });
  });

  it('bottom-edge tiles of full width are stored tiles with a lower frame height', () => {
    const s = shape(2220, 2967);
    const top = dziLevelCount(2220, 2967) - 1;
    expect(dziPlan(s, top, 0, 11)).toEqual({
      kind: 'stored',
      level: 0,
      col: 0,
      row: 11,
      height: 2967 - 11 * 256,
    });
  });

  it('right-edge tiles are cropped from the stored tile', () => {
    const s = shape(2220, 2967);
    const top = dziLevelCount(2220, 2967) - 1;
    expect(dziPlan(s, top, 8, 0)).toEqual({
      kind: 'render',
      level: 0,
      src: { x: 2048, y: 0, width: 172, height: 256 },
      extendRight: 0,
      extendBottom: 0,
      width: 172,
      height: 256,
    });
  });

  it('a Deep Zoom level one pixel larger than the stored level repeats the edge row', () => {
    // 1000 x 777: stored level 1 is 500 x 388 (floor), Deep Zoom's is 500 x 389 (ceil).
    const s = shape(1000, 777);
    const level = dziLevelCount(1000, 777) - 2;
    expect(dziLevelSize(1000, 777, level)).toEqual({ width: 500, height: 389 });
    expect(dziPlan(s, level, 0, 1)).toEqual({
      kind: 'render',
      level: 1,
      src: { x: 0, y: 256, width: 256, height: 132 },
      extendRight: 0,
      extendBottom: 1,
      width: 256,
      height: 133,
    });
  });

  it('a column entirely past the stored level comes from its last column', () => {
    // 513 wide: stored level 1 is 256 px (one tile), Deep Zoom's is 257 (two tiles, the second 1 px).
    const s = shape(513, 300);
    const level = dziLevelCount(513, 300) - 2;
    expect(dziPlan(s, level, 1, 0)).toMatchObject({
      kind: 'render',
      level: 1,
      src: { x: 255, y: 0, width: 1, height: 150 },
      extendRight: 0,
      width: 1,
      height: 150,
    });
  });

  it('levels below the smallest stored level scale it, down to 1 x 1', () => {
    const s = shape(2220, 2967);
    const last = s.levelInfo.length - 1;
    const levelBelow = dziLevelCount(2220, 2967) - 1 - s.levelInfo.length;
    expect(dziPlan(s, levelBelow, 0, 0)).toEqual({
      kind: 'render',
      level: last,
      src: { x: 0, y: 0, width: 138, height: 185 },
      extendRight: 0,
      extendBottom: 0,
      width: 70,
      height: 93,
    });
    expect(dziPlan(s, 0, 0, 0)).toMatchObject({ kind: 'render', level: last, width: 1, height: 1 });
  });

  it('out of range level, column or row: null', () => {
    const s = shape(2220, 2967);
    const top = dziLevelCount(2220, 2967) - 1;
    for (const [l, c, r] of [
      [top + 1, 0, 0],
      [-1, 0, 0],
      [top, 9, 0],
      [top, 0, 12],
      [top, -1, 0],
      [0, 1, 0],
      [1.5, 0, 0],
      [top, Number.NaN, 0],
    ] as const) {
      expect(dziPlan(s, l, c, r), `${l}/${c}_${r}`).toBeNull();
    }
  });
});
