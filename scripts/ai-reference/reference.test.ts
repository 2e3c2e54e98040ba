/**
 * The reference algorithm's pieces on pixels whose answer is known: outlines of masks (regions,
 * holes, diagonal neighbours kept apart, areas equal to pixel counts), colour deconvolution of
 * pixels made from the stain vectors themselves, and the tissue mask.
 */
import { describe, expect, it } from 'vitest';
import { labelRegions, ringArea, simplifyRing, traceRegions } from './contours.ts';
import { HED_FROM_STAINS, haematoxylin, invert3, tissueMask, unmix } from './stain.ts';
import { analyse } from './run.ts';

function mask(rows: string[]): { m: Uint8Array; w: number; h: number } {
  const h = rows.length;
  const w = rows[0]!.length;
  const m = new Uint8Array(w * h);
  rows.forEach((r, y) => [...r].forEach((c, x) => (m[y * w + x] = c === '#' ? 1 : 0)));
  return { m, w, h };
}

function regionsOf(rows: string[]) {
  const { m, w, h } = mask(rows);
  const { labels, sizes } = labelRegions(m, w, h);
  return traceRegions(labels, w, h, sizes);
}

describe('contours: regions of a mask traced along pixel edges', () => {
  it('a filled rectangle is one ring of its four corners, clockwise (y down), area = pixels', () => {
    const [r, ...rest] = regionsOf(['.....', '.###.', '.###.', '.....']);
    expect(rest).toHaveLength(0);
    expect(r!.rings).toHaveLength(1);
    const ring = r!.rings[0]!;
    expect(ring).toHaveLength(4);
    expect(new Set(ring.map((p) => p.join(',')))).toEqual(new Set(['1,1', '4,1', '4,3', '1,3']));
    expect(ringArea(ring)).toBe(6);
    expect(r!.pixels).toBe(6);
  });

  it('a region touching the image border is closed along the border', () => {
    const [r] = regionsOf(['##', '##']);
    expect(ringArea(r!.rings[0]!)).toBe(4);
  });

  it('a ring with a hole: outer first (positive), hole negative, net area = pixels', () => {
    const [r] = regionsOf(['#####', '#...#', '#...#', '#####']);
    expect(r!.rings).toHaveLength(2);
    const [outer, hole] = r!.rings;
    expect(ringArea(outer!)).toBe(20);
    expect(ringArea(hole!)).toBe(-6);
    expect(ringArea(outer!) + ringArea(hole!)).toBe(r!.pixels);
  });

  it('diagonal neighbours are two regions (4-connected), each its own square', () => {
    const rs = regionsOf(['#.', '.#']);
    expect(rs).toHaveLength(2);
    for (const r of rs) {
      expect(r.rings).toHaveLength(1);
      expect(ringArea(r.rings[0]!)).toBe(1);
    }
  });

  it('an L shape keeps its six corners; a ragged blob traces to its pixel count', () => {
    const [l] = regionsOf(['#..', '#..', '###']);
    expect(l!.rings[0]).toHaveLength(6);
    expect(ringArea(l!.rings[0]!)).toBe(5);
    const blob = ['..##....#', '.####..##', '###.####.', '.#..###..', '....#....'];
    for (const r of regionsOf(blob))
      expect(r.rings.reduce((s, ring) => s + ringArea(ring), 0)).toBe(r.pixels);
  });

  it('simplifying a staircase keeps its shape within the tolerance and its area close', () => {
    const stairs: [number, number][] = [[0, 0]];
    for (let i = 0; i < 20; i++) stairs.push([i + 1, i], [i + 1, i + 1]);
    stairs.push([0, 20]);
    const s = simplifyRing(stairs, 1);
    expect(s.length).toBeLessThan(8);
    expect(Math.abs(ringArea(s) - ringArea(stairs))).toBeLessThan(21);
  });
});

describe('colour deconvolution (Ruifrok & Johnston)', () => {
  const norm = (v: readonly number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  /** The RGB of `amount` OD units of one stain alone. */
  const pixel = (stain: number, amount: number): [number, number, number] =>
    norm(HED_FROM_STAINS[stain]!).map((od) => Math.round(255 * 10 ** (-od * amount))) as [
      number,
      number,
      number,
    ];

  it('the unmixing matrix is the inverse of the stain matrix', () => {
    const m = HED_FROM_STAINS.map(norm);
    const inv = invert3(m);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        const v = [0, 1, 2].reduce((s, k) => s + m[i]![k]! * inv[k]![j]!, 0);
        expect(v).toBeCloseTo(i === j ? 1 : 0, 9);
      }
  });

  it('a pure haematoxylin pixel unmixes to its amount of H and ~no eosin; pure eosin to ~no H', () => {
    const [h, e] = unmix(...pixel(0, 0.8));
    expect(h).toBeGreaterThan(0.7);
    expect(h).toBeLessThan(0.9);
    expect(Math.abs(e)).toBeLessThan(0.05);
    const [h2, e2] = unmix(...pixel(1, 0.8));
    expect(Math.abs(h2)).toBeLessThan(0.05);
    expect(e2).toBeGreaterThan(0.7);
    // White glass: nothing.
    expect(unmix(255, 255, 255).every((v) => Math.abs(v) < 1e-9)).toBe(true);
    // haematoxylin() agrees and never goes below zero.
    const hx = haematoxylin(Uint8Array.from([...pixel(0, 0.8), ...pixel(1, 0.8)]), 3);
    expect(hx[0]).toBeCloseTo(h, 5);
    expect(hx[1]).toBeGreaterThanOrEqual(0);
  });
});

describe('tissue', () => {
  it('stained pixels are tissue, glass is not; a one-pixel speck is removed', () => {
    const w = 20;
    const h = 10;
    const rgb = new Uint8Array(w * h * 3).fill(242);
    const paint = (x: number, y: number, c: number[]) => rgb.set(c, (y * w + x) * 3);
    for (let y = 2; y < 8; y++) for (let x = 2; x < 10; x++) paint(x, y, [150, 80, 160]);
    paint(15, 5, [150, 80, 160]);
    const m = tissueMask(rgb, w, h, 3);
    expect(m.reduce((s, v) => s + v, 0)).toBe(48);
    expect(m[5 * w + 15]).toBe(0);
  });

  it('analyse: regions in slide coordinates, heat map cells square and denser over purple than pink', () => {
    const w = 100;
    const h = 50;
    const rgb = new Uint8Array(w * h * 3).fill(245);
    for (let y = 10; y < 40; y++)
      for (let x = 10; x < 90; x++) rgb.set(x < 50 ? [110, 60, 160] : [235, 140, 190], (y * w + x) * 3);
    const r = analyse(rgb, w, h, 3, { width: 4000, height: 2000, mppX: 0.5, mppY: 0.5 });
    expect(r.regions).toBe(1);
    expect(r.tissueShare).toBeCloseTo((80 * 30) / (100 * 50), 5);
    const f = r.features[0] as {
      geometry: { coordinates: number[][][] };
      properties: { measurements: Record<string, number> };
    };
    const xs = f.geometry.coordinates[0]!.map((p) => p[0]!);
    expect(Math.min(...xs)).toBe(400);
    expect(Math.max(...xs)).toBe(3600);
    expect(f.properties.measurements['Area mm^2']).toBeCloseTo((3200 * 1200 * 0.25) / 1e6, 3);
    expect(r.heatmap.width / r.heatmap.height).toBe(2);
    const values = new Float32Array(Buffer.from(r.heatmap.data, 'base64').buffer.slice(0));
    const at = (fx: number, fy: number) =>
      values[Math.floor(fy * r.heatmap.height) * r.heatmap.width + Math.floor(fx * r.heatmap.width)]!;
    expect(at(0.3, 0.5)).toBeGreaterThan(at(0.7, 0.5) * 2);
    expect(at(0.02, 0.02)).toBe(0);
  });
});
