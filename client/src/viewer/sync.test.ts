import { describe, expect, it } from 'vitest';
import { anchorBetween, followView, reverseAnchor, syncFrames } from './sync.ts';

describe('side-by-side sync works in physical units when both slides are calibrated', () => {
  const frames = syncFrames({ x: 0.5, y: 0.5 }, { x: 0.25, y: 0.25 });

  it('same tissue distance per screen pixel: a finer scan needs twice the image zoom', () => {
    const v = followView({ x: 100, y: 200, imageZoom: 0.5, rotation: 0 }, frames.a, frames.b, {
      offset: { x: 0, y: 0 },
      rotation: 0,
    });
    expect(frames.physical).toBe(true);
    expect(v).toEqual({ x: 200, y: 400, imageZoom: 0.25, rotation: 0 });
    // µm per screen pixel equal on both sides
    expect(0.5 / 0.5).toBeCloseTo(0.25 / v.imageZoom);
  });

  it('keeps the offset between the centres found when sync was switched on', () => {
    const a = { x: 1000, y: 1000, imageZoom: 1, rotation: 0 };
    const b = { x: 3000, y: 1000, imageZoom: 2, rotation: 90 };
    const anchor = anchorBetween(a, frames.a, b, frames.b);
    // unchanged leader → unchanged follower position and rotation
    const same = followView(a, frames.a, frames.b, anchor);
    expect(same.x).toBeCloseTo(3000);
    expect(same.y).toBeCloseTo(1000);
    expect(same.rotation).toBe(90);
    // leader pans 100 µm right → follower pans 100 µm (400 of its pixels) right
    const moved = followView({ ...a, x: 1200 }, frames.a, frames.b, anchor);
    expect(moved.x).toBeCloseTo(3400);
    // and the other way round
    const back = followView(b, frames.b, frames.a, reverseAnchor(anchor));
    expect(back.x).toBeCloseTo(1000);
    expect(back.rotation).toBe(0);
  });

  it('falls back to image pixels when one slide lacks µm/px', () => {
    const f = syncFrames({ x: 0.5, y: 0.5 }, null);
    expect(f.physical).toBe(false);
    const v = followView({ x: 10, y: 20, imageZoom: 0.3, rotation: 0 }, f.a, f.b, {
      offset: { x: 0, y: 0 },
      rotation: 0,
    });
    expect(v).toEqual({ x: 10, y: 20, imageZoom: 0.3, rotation: 0 });
  });
});
