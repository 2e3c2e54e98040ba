import { describe, expect, it } from 'vitest';
import { colourise, colourTable, COLOUR_MAPS, legendGradient, valueAt } from './colormap.ts';

const rgb = (lut: Uint8Array, v: number) => [lut[v * 3], lut[v * 3 + 1], lut[v * 3 + 2]];

describe('heat map colour maps', () => {
  it('viridis and inferno hit matplotlib’s published end and middle colours', () => {
    const v = colourTable('viridis');
    expect(rgb(v, 0)).toEqual([0x44, 0x01, 0x54]);
    expect(rgb(v, 255)).toEqual([0xfd, 0xe7, 0x25]);
    // 0.5 of the range sits between grey levels 127 and 128: within a step of #21918c.
    const mid = rgb(v, 128);
    [0x21, 0x91, 0x8c].forEach((want, i) => expect(Math.abs(mid[i]! - want)).toBeLessThanOrEqual(3));
    const h = colourTable('inferno');
    expect(rgb(h, 0)).toEqual([0x00, 0x00, 0x04]);
    expect(rgb(h, 255)).toEqual([0xfc, 0xff, 0xa4]);
  });

  it('grey maps each level to itself', () => {
    const g = colourTable('grey');
    for (const v of [0, 1, 77, 254, 255]) expect(rgb(g, v)).toEqual([v, v, v]);
  });

  it('every map rises in lightness from its low to its high end (a reader reads more as brighter)', () => {
    for (const m of COLOUR_MAPS) {
      const lut = colourTable(m);
      const luma = (v: number) => 0.299 * lut[v * 3]! + 0.587 * lut[v * 3 + 1]! + 0.114 * lut[v * 3 + 2]!;
      for (let v = 16; v < 256; v += 16) expect(luma(v)).toBeGreaterThan(luma(v - 16));
    }
  });

  it('colouring a grey picture keeps level 0 transparent and the rest opaque, in place', () => {
    const px = new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255]);
    const out = colourise(px, 'inferno');
    expect(out).toBe(px);
    expect(px[3]).toBe(0);
    expect([...px.slice(4, 8)]).toEqual([0xfc, 0xff, 0xa4, 255]);
    expect(px[11]).toBe(255);
    expect([...px.slice(8, 11)]).toEqual(rgb(colourTable('inferno'), 128));
  });

  it('the legend is a gradient of the map and grey levels read back as the heat map’s values', () => {
    expect(legendGradient('grey')).toMatch(
      /^linear-gradient\(to right, rgb\(0, 0, 0\) 0%.*rgb\(255, 255, 255\) 100%\)$/,
    );
    expect(valueAt(0, [0, 1])).toBe(0);
    expect(valueAt(255, [0, 1])).toBe(1);
    expect(valueAt(51, [10, 60])).toBeCloseTo(20);
  });
});
