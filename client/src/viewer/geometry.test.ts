import { describe, expect, it } from 'vitest';
import {
  affineFrom,
  compose,
  cssMove,
  apply,
  formatArea,
  formatLength,
  invert,
  lineLength,
  polygonArea,
  polygonAreaPx,
  rectCorners,
  type Affine,
} from './geometry.ts';

describe('line length uses µm per pixel on each axis', () => {
  it('a 1000 px horizontal line at 0.499 µm/px is 499 µm', () => {
    expect(lineLength({ x: 0, y: 0 }, { x: 1000, y: 0 }, { x: 0.499, y: 0.499 })).toBeCloseTo(499);
  });
  it('non-square pixels scale each axis separately', () => {
    expect(lineLength({ x: 0, y: 0 }, { x: 30, y: 40 }, { x: 1, y: 2 })).toBeCloseTo(Math.hypot(30, 80));
  });
  it('without calibration the length is in pixels', () => {
    expect(lineLength({ x: 0, y: 0 }, { x: 3, y: 4 }, null)).toBe(5);
  });
});

describe('polygon area (shoelace)', () => {
  it('is independent of winding', () => {
    const sq = rectCorners({ x: 0, y: 0 }, { x: 10, y: 20 });
    expect(polygonAreaPx(sq)).toBe(200);
    expect(polygonAreaPx([...sq].reverse())).toBe(200);
  });
  it('handles concave shapes', () => {
    // an L: 2x2 square minus a 1x1 corner
    const l = [
      { x: 0, y: 0 },
      { x: 2, y: 0 },
      { x: 2, y: 1 },
      { x: 1, y: 1 },
      { x: 1, y: 2 },
      { x: 0, y: 2 },
    ];
    expect(polygonAreaPx(l)).toBe(3);
  });
  it('is zero for fewer than three points', () => {
    expect(
      polygonAreaPx([
        { x: 0, y: 0 },
        { x: 5, y: 5 },
      ]),
    ).toBe(0);
  });
  it('converts to µm² with mppX × mppY', () => {
    const sq = rectCorners({ x: 0, y: 0 }, { x: 2000, y: 2000 });
    expect(polygonArea(sq, { x: 0.5, y: 0.5 })).toBeCloseTo(1e6);
  });
});

describe('formatting picks readable units', () => {
  it('lengths: µm below 1 mm, mm above, px uncalibrated', () => {
    expect(formatLength(499, true)).toBe('499.0 µm');
    expect(formatLength(4.256, true)).toBe('4.26 µm');
    expect(formatLength(1234.5, true)).toBe('1.235 mm');
    expect(formatLength(12345, true)).toBe('12.35 mm');
    expect(formatLength(1234.4, false)).toBe('1,234 px');
  });
  it('areas: µm² below 0.01 mm², mm² above', () => {
    expect(formatArea(42.25, true)).toBe('42.3 µm²');
    expect(formatArea(8412.4, true)).toBe('8,412 µm²');
    expect(formatArea(1e6, true)).toBe('1.000 mm²');
    expect(formatArea(250_000, true)).toBe('0.2500 mm²');
    expect(formatArea(99, false)).toBe('99 px²');
  });
});

describe('affine transforms between image and screen', () => {
  it('invert undoes apply, including rotation', () => {
    // 90° clockwise, scale 0.5, shifted
    const m = affineFrom({ x: 100, y: 50 }, { x: 100, y: 50.5 }, { x: 99.5, y: 50 });
    const p = { x: 123, y: -45 };
    const q = apply(invert(m), apply(m, p));
    expect(q.x).toBeCloseTo(p.x);
    expect(q.y).toBeCloseTo(p.y);
  });
  it('rejects a singular transform', () => {
    expect(() => invert([0, 0, 0, 0, 1, 1])).toThrow();
  });
});

describe('the CSS move between two image → screen transforms', () => {
  const drawn: Affine = [0.5, 0, 0, 0.5, 100, 50];
  it('is none when the view has not moved', () => {
    expect(cssMove(drawn, [...drawn])).toBe('none');
  });
  it('maps each screen point drawn at the old transform onto the new one', () => {
    const now: Affine = [1, 0, 0, 1, -30, 20];
    const m = /^matrix\((.*)\)$/.exec(cssMove(drawn, now))![1]!.split(', ').map(Number) as unknown as Affine;
    for (const p of [
      { x: 0, y: 0 },
      { x: 1000, y: 400 },
      { x: -20, y: 7 },
    ]) {
      const viaMove = apply(m, apply(drawn, p));
      const direct = apply(now, p);
      expect(viaMove.x).toBeCloseTo(direct.x, 9);
      expect(viaMove.y).toBeCloseTo(direct.y, 9);
    }
  });
  it('composes a then b, rotation included', () => {
    const rot: Affine = [0, 1, -1, 0, 0, 0];
    const shift: Affine = [1, 0, 0, 1, 5, 0];
    // Rotate first, then shift: (1, 0) → (0, 1) → (5, 1).
    expect(apply(compose(shift, rot), { x: 1, y: 0 })).toEqual({ x: 5, y: 1 });
    // Shift first, then rotate: (1, 0) → (6, 0) → (0, 6).
    const p = apply(compose(rot, shift), { x: 1, y: 0 });
    expect(p.x).toBeCloseTo(0, 12);
    expect(p.y).toBeCloseTo(6, 12);
  });
});
