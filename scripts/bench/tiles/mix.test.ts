import { describe, expect, it } from 'vitest';
import { dziGrid, tileMix, tilePath } from './mix.ts';

const W = 60_000;
const H = 45_000;

describe('tile benchmark request mix', () => {
  it('uses standard Deep Zoom numbering: the top level is full resolution, sizes round up', () => {
    expect(dziGrid(W, H, 16)).toEqual({ width: 60_000, height: 45_000, cols: 235, rows: 176 });
    expect(dziGrid(W, H, 15)).toEqual({ width: 30_000, height: 22_500, cols: 118, rows: 88 });
    expect(dziGrid(1000, 777, 9)).toEqual({ width: 500, height: 389, cols: 2, rows: 2 });
    expect(dziGrid(W, H, 0)).toEqual({ width: 1, height: 1, cols: 1, rows: 1 });
  });

  it('asks only for tiles inside their level, for odd sizes too', () => {
    for (const [width, height] of [
      [W, H],
      [1000, 777],
      [100_003, 257],
    ] as const) {
      const mix = tileMix({ width, height, count: 3000, seed: 7 });
      expect(mix.length).toBeGreaterThanOrEqual(3000);
      for (const t of mix) {
        const g = dziGrid(width, height, t.level);
        expect(Number.isInteger(t.col) && Number.isInteger(t.row)).toBe(true);
        expect(t.col).toBeGreaterThanOrEqual(0);
        expect(t.row).toBeGreaterThanOrEqual(0);
        expect(t.col).toBeLessThan(g.cols);
        expect(t.row).toBeLessThan(g.rows);
      }
    }
  });

  it('is the same sequence for the same seed and another for another seed', () => {
    const a = tileMix({ width: W, height: H, count: 2000, seed: 42 });
    const b = tileMix({ width: W, height: H, count: 2000, seed: 42 });
    const c = tileMix({ width: W, height: H, count: 2000, seed: 43 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('shows a 1920x1080 viewer about 8x5 tiles, and spends most requests on the top levels', () => {
    const mix = tileMix({ width: W, height: H, count: 4000, seed: 1 });
    const top = mix.filter((t) => t.level === 16);
    expect(top.length).toBeGreaterThan(0);
    const cols = new Set(top.map((t) => t.col)).size;
    expect(cols).toBeGreaterThan(8);
    const share = mix.filter((t) => t.level >= 12).length / mix.length;
    expect(share).toBeGreaterThan(0.75);
    expect(new Set(mix.map((t) => t.level)).size).toBeGreaterThanOrEqual(6);
    // One field of view at the top level: 8 or 9 columns by 5 or 6 rows.
    const first = tileMix({ width: W, height: H, count: 1, seed: 3, levelWeights: [1] });
    const span = (k: 'col' | 'row'): number =>
      Math.max(...first.map((t) => t[k])) - Math.min(...first.map((t) => t[k])) + 1;
    expect(span('col')).toBeGreaterThanOrEqual(8);
    expect(span('col')).toBeLessThanOrEqual(9);
    expect(span('row')).toBeGreaterThanOrEqual(5);
    expect(span('row')).toBeLessThanOrEqual(6);
    expect(first.length).toBe(span('col') * span('row'));
  });

  it('builds Deep Zoom paths', () => {
    expect(tilePath('/slide_files', { level: 12, col: 3, row: 4 })).toBe('/slide_files/12/3_4.jpeg');
  });
});
