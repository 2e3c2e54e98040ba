import { describe, expect, it } from 'vitest';
import {
  applyToPixel,
  defaultAdjustments,
  filterSpec,
  isIdentity,
  parseRendering,
  pixelFilter,
  storedValue,
} from './adjust.ts';

// As tiles/readers/tiff/render.ts describeRendering writes them (OME-TIFF and QPTIFF samples).
const PRIMARIES =
  '3 16-bit channels mixed additively in colour and clipped: channel 0 -> #0000ff (0..65535), channel 1 -> #00ff00 (100..2000), channel 2 -> #ff0000 (-5.5..12.25); each with a linear stretch between the 0.1 and 99.9 percentiles measured on the 1024x1024 level';
const WITH_YELLOW =
  '3 8-bit channels mixed additively in colour and clipped: DAPI -> #0000ff (0..40), FITC -> #00ff00 (1..30), Cy3 -> #ffff00 (5..27); each with a linear stretch between the 0.1 and 99.9 percentiles measured on the 1920x1440 level';

describe('the rendering text says which channels can be separated in the browser', () => {
  it('reads names, colours and ingest windows (negative and fractional too)', () => {
    const l = parseRendering(PRIMARIES)!;
    expect(l.channels.map((c) => c.name)).toEqual(['channel 0', 'channel 1', 'channel 2']);
    expect(l.channels[1]).toEqual({ name: 'channel 1', color: [0, 255, 0], lo: 100, hi: 2000 });
    expect(l.channels[2]).toMatchObject({ lo: -5.5, hi: 12.25 });
    expect(l.components).toEqual([2, 1, 0]);
  });

  it('channels sharing a component (yellow is red + green) cannot be separated', () => {
    const l = parseRendering(WITH_YELLOW)!;
    expect(l.channels).toHaveLength(3);
    expect(l.components).toBeNull();
    expect(defaultAdjustments(l).channels).toEqual([]);
  });

  it('brightfield, one grey channel and other wording give no channels', () => {
    expect(parseRendering(null)).toBeNull();
    expect(parseRendering('1 16-bit channel shown as grey: linear stretch (0..4095)')).toBeNull();
    expect(parseRendering('Gray16 channels contrast-stretched, tinted and added: EGFP: 982-8432')).toBeNull();
  });

  it('a range fraction names the stored value it stands for', () => {
    const c = parseRendering(PRIMARIES)!.channels[1]!;
    expect(storedValue(c, 0)).toBe(100);
    expect(storedValue(c, 0.5)).toBe(1050);
  });
});

describe('brightness, contrast and gamma', () => {
  const none = defaultAdjustments(null);

  it('defaults are no filter at all', () => {
    expect(isIdentity(filterSpec(none, null))).toBe(true);
    expect(pixelFilter(filterSpec(none, null))).toBeNull();
  });

  it('brightness multiplies, contrast pivots on mid-grey, both clip', () => {
    const b = filterSpec({ ...none, brightness: 1.5 }, null);
    expect(applyToPixel(b, [0.4, 0.8, 0])).toEqual([0.6000000000000001, 1, 0]);
    const c = filterSpec({ ...none, contrast: 2 }, null);
    const out = applyToPixel(c, [0.5, 0.75, 0.1]);
    expect(out[0]).toBeCloseTo(0.5);
    expect(out[1]).toBeCloseTo(1);
    expect(out[2]).toBe(0);
  });

  it('gamma 2 lifts mid-grey to √0.5 and keeps black and white', () => {
    const g = filterSpec({ ...none, gamma: 2 }, null);
    expect(applyToPixel(g, [0.5, 0, 1])[0]).toBeCloseTo(Math.SQRT1_2);
    expect(applyToPixel(g, [0.5, 0, 1]).slice(1)).toEqual([0, 1]);
  });

  it('the byte loop run over tiles matches the per-pixel formula (±1 level)', () => {
    const s = filterSpec({ ...none, brightness: 1.2, contrast: 0.8, gamma: 1.7 }, null);
    const data = new Uint8ClampedArray([0, 64, 128, 255, 200, 255, 30, 255]);
    const copy = data.slice();
    pixelFilter(s)!(data);
    for (let i = 0; i < data.length; i++) {
      if (i % 4 === 3) {
        expect(data[i]).toBe(copy[i]);
        continue;
      }
      const px = Math.floor(i / 4) * 4;
      const want = applyToPixel(s, [copy[px]! / 255, copy[px + 1]! / 255, copy[px + 2]! / 255]);
      expect(Math.abs(data[i]! - want[i % 4]! * 255)).toBeLessThanOrEqual(1);
    }
  });
});

describe('per-channel control when every channel has its own primary', () => {
  const layout = parseRendering(PRIMARIES)!;
  const base = defaultAdjustments(layout);

  it('all channels on in their own colours is no filter', () => {
    expect(base.channels).toHaveLength(3);
    expect(isIdentity(filterSpec(base, layout))).toBe(true);
  });

  it('switching a channel off blacks out its component only', () => {
    const adj = { ...base, channels: base.channels.map((c, i) => (i === 1 ? { ...c, on: false } : c)) };
    const s = filterSpec(adj, layout);
    expect(applyToPixel(s, [0.3, 0.6, 0.9])).toEqual([0.3, 0, 0.9]);
  });

  it('a channel re-tinted yellow adds into red and green', () => {
    // channel 0 (blue component) shown yellow, channel 2 (red component) as is
    const adj = {
      ...base,
      channels: base.channels.map((c, i) => (i === 0 ? { ...c, color: [255, 255, 0] as const } : c)),
    };
    const s = filterSpec(adj, layout);
    const out = applyToPixel(s, [0.25, 0.5, 0.5]);
    expect(out[0]).toBeCloseTo(0.75); // 0.25 red + 0.5 of the re-tinted channel
    expect(out[1]).toBeCloseTo(1); // 0.5 green + 0.5 yellow → 1
    expect(out[2]).toBe(0);
    expect(s.matrix).toEqual([
      [1, 0, 1],
      [0, 1, 1],
      [0, 0, 0],
    ]);
  });

  it('a range narrows within the ingest window: from 0.2 to 0.6 maps 0.2 → black, 0.6 → full', () => {
    const adj = {
      ...base,
      channels: base.channels.map((c, i) => (i === 2 ? { ...c, from: 0.2, to: 0.6 } : c)),
    };
    const s = filterSpec(adj, layout);
    expect(s.matrix).toBeNull();
    const [r] = applyToPixel(s, [0.4, 0, 0]);
    expect(r).toBeCloseTo(0.5);
    expect(applyToPixel(s, [0.1, 0, 0])[0]).toBe(0);
    expect(applyToPixel(s, [0.9, 0, 0])[0]).toBe(1);
  });
});
