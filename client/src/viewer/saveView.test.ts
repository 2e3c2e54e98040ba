import { describe, expect, it } from 'vitest';
import { stampLayout, viewFileName } from './saveView.ts';

describe('a saved view is named <name>-<x>-<y>.png', () => {
  it('uses the centre pixel, rounded', () => {
    expect(viewFileName('CMU-1-Small-Region', 1110.4, 1482.6)).toBe('CMU-1-Small-Region-1110-1483.png');
  });
  it('makes the name safe for a file system', () => {
    expect(viewFileName('case 12/B: "left"', 1, 2)).toBe('case_12_B_left-1-2.png');
    expect(viewFileName('...', 0, 0)).toBe('view-0-0.png');
    expect(viewFileName('a\u0000b', 0, 0)).toBe('a_b-0-0.png');
  });
});

describe('the scale bar of a saved view', () => {
  it('is a nice length in µm drawn at µm / (µm per pixel) pixels, at the bottom', () => {
    // 0.499 µm/px at 1:1 on a 1000 x 800 image: 160 px hold 79.8 µm → 50 µm = 100.2 px
    const L = stampLayout(1000, 800, 0.499, 'S-12', 1);
    expect(L.bar!.spec.um).toBe(50);
    expect(L.bar!.width).toBeCloseTo(50 / 0.499);
    expect(L.barLabel).toBe('50 µm');
    // inside the bottom 60 px, inside its box, clear of the edges
    expect(L.bar!.y + L.bar!.height).toBeLessThanOrEqual(800 - 10);
    expect(L.bar!.y).toBeGreaterThan(800 - 60);
    expect(L.bar!.x).toBeGreaterThanOrEqual(L.barBox.x);
    expect(L.bar!.x + L.bar!.width).toBeLessThanOrEqual(L.barBox.x + L.barBox.width);
  });

  it('on a 2x density canvas the stamps double and µm per output pixel halves', () => {
    const one = stampLayout(1000, 800, 1, 'x', 1);
    const two = stampLayout(2000, 1600, 0.5, 'x', 2);
    expect(two.bar!.spec.um).toBe(one.bar!.spec.um);
    expect(two.bar!.width).toBeCloseTo(2 * one.bar!.width);
    expect(two.font).toBe(2 * one.font);
  });

  it('never takes more than a third of a narrow image', () => {
    const L = stampLayout(240, 200, 0.25, 'x', 1);
    expect(L.bar!.width).toBeLessThanOrEqual(80);
  });

  it('says there is no scale without µm/px', () => {
    const L = stampLayout(1000, 800, null, 'x', 1);
    expect(L.bar).toBeNull();
    expect(L.barLabel).toBe('No scale: µm/px unknown');
  });
});
