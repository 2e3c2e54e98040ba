import { describe, expect, it } from 'vitest';
import { ANNOTATION_CLASSES } from './constants.ts';
import { deltaE, legibleOnHE, toLab } from './legibility.ts';

describe('class colours legible on H&E', () => {
  it('Lab of white and black', () => {
    const w = toLab('#ffffff');
    expect(w[0]).toBeCloseTo(100, 1);
    expect(Math.abs(w[1])).toBeLessThan(0.5);
    expect(toLab('#000000')[0]).toBeCloseTo(0, 5);
    expect(deltaE('#123456', '#123456')).toBe(0);
  });

  it('of the built-in (QuPath) classes only Immune cells’ purple blends into haematoxylin', () => {
    const faint = ANNOTATION_CLASSES.filter((c) => !legibleOnHE(c.color)).map((c) => c.name);
    expect(faint).toEqual(['Immune cells']);
  });

  it('eosin pink, haematoxylin purple and near-white are flagged', () => {
    expect(legibleOnHE('#e6b2cc')).toBe(false);
    expect(legibleOnHE('#6e4c96')).toBe(false);
    expect(legibleOnHE('#f0f0f0')).toBe(false);
    expect(legibleOnHE('#00c8ff')).toBe(true);
  });
});
