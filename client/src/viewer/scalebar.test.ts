import { describe, expect, it } from 'vitest';
import { formatScaleLength, niceLengthAtMost, scaleBar } from './scalebar.ts';

describe('scale bar lengths are 1, 2 or 5 × 10ⁿ µm', () => {
  it('rounds down to the nearest nice length', () => {
    expect(niceLengthAtMost(79.84)).toBe(50);
    expect(niceLengthAtMost(199)).toBe(100);
    expect(niceLengthAtMost(200)).toBe(200);
    expect(niceLengthAtMost(4999)).toBe(2000);
    expect(niceLengthAtMost(1000)).toBe(1000);
    expect(niceLengthAtMost(0.37)).toBe(0.2);
  });
  it('labels in µm below 1 mm and in mm above', () => {
    expect(formatScaleLength(500)).toBe('500 µm');
    expect(formatScaleLength(2000)).toBe('2 mm');
    expect(formatScaleLength(0.5)).toBe('0.5 µm');
  });
  it('fits in the space given and never exceeds it', () => {
    // 20x slide at 0.499 µm/px shown 1:1: 160 px cover 79.84 µm → a 50 µm bar
    const s = scaleBar(0.499, 160)!;
    expect(s.um).toBe(50);
    expect(s.px).toBeCloseTo(50 / 0.499);
    expect(s.px).toBeLessThanOrEqual(160);
    expect(s.label).toBe('50 µm');
    for (let u = 0.01; u < 1e4; u *= 1.37) {
      const b = scaleBar(u, 150)!;
      expect(b.px).toBeLessThanOrEqual(150 + 1e-6);
      expect(b.px).toBeGreaterThan(150 / 2.5 - 1e-6);
    }
  });
  it('has no bar without calibration', () => {
    expect(scaleBar(0)).toBeNull();
    expect(scaleBar(Number.NaN)).toBeNull();
  });
});
