import { describe, expect, it } from 'vitest';
import * as server from '../../../server/review/classes.ts';
import { ANNOTATION_CLASSES } from './constants.ts';
import * as client from './legibility.ts';

const SAMPLES = [
  ...server.DEFAULT_CLASSES.map((c) => c.color),
  ...ANNOTATION_CLASSES.map((c) => c.color),
  '#000000',
  '#ffffff',
  '#e6b2cc',
  '#6e4c96',
  '#00c8ff',
  '#808080',
  '#c8c8c8',
];

describe('class colours legible on H&E (the client flags what the server’s rule would)', () => {
  it('the copy has the server’s constants', () => {
    expect([client.HE_PINK, client.HE_PURPLE]).toEqual([server.HE_PINK, server.HE_PURPLE]);
    expect([client.MIN_CONTRAST_ON_PINK, client.MIN_CONTRAST_ON_PURPLE, client.MIN_LUMINANCE]).toEqual([
      server.MIN_CONTRAST_ON_PINK,
      server.MIN_CONTRAST_ON_PURPLE,
      server.MIN_LUMINANCE,
    ]);
  });

  it('and judges every sample colour as the server does', () => {
    for (const c of SAMPLES) expect(client.legibleOnHE(c), c).toBe(server.legibleOnHE(c));
  });

  it('the server’s default palette passes; pink, purple and near-black are told apart', () => {
    for (const c of server.DEFAULT_CLASSES) expect(client.legibilityProblem(c.color), c.name).toBeNull();
    expect(client.legibilityProblem('#111111')).toMatch(/too dark/);
    expect(client.legibilityProblem('#f0c8dc')).toMatch(/pink/);
    expect(client.contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
  });
});
