import { describe, expect, it } from 'vitest';
import {
  compareFrames,
  followShared,
  followView,
  fromShared,
  invertLink,
  linkBetween,
  SAME_PLACE,
  toShared,
  type SharedView,
} from './compareMap.ts';

const COARSE = { width: 10_000, height: 8_000, mppX: 0.5, mppY: 0.5 };
const FINE = { width: 20_000, height: 16_000, mppX: 0.25, mppY: 0.25 };
const UNCALIBRATED = { width: 4_000, height: 2_000, mppX: null, mppY: null };

function close(a: { x: number; y: number }, b: { x: number; y: number }, digits = 6): void {
  expect(a.x).toBeCloseTo(b.x, digits);
  expect(a.y).toBeCloseTo(b.y, digits);
}

describe('a view in µm: centre in µm, zoom as µm per screen pixel', () => {
  it('0.5 µm/px at 1 screen px per image px covers 0.5 µm per screen px', () => {
    const f = compareFrames(COARSE, FINE);
    expect(f.unit).toBe('um');
    const s = toShared({ x: 1000, y: 2000, imageZoom: 1, rotation: 0 }, f.a);
    expect(s).toEqual({ x: 500, y: 1000, perScreenPx: 0.5, rotation: 0 });
    expect(fromShared(s, f.a)).toEqual({ x: 1000, y: 2000, imageZoom: 1, rotation: 0 });
  });

  it('the same µm view on a 0.25 µm/px slide is twice the pixels at half the image zoom', () => {
    const f = compareFrames(COARSE, FINE);
    const v = followView({ x: 1000, y: 2000, imageZoom: 0.5, rotation: 0 }, f.a, f.b, SAME_PLACE);
    expect(v).toEqual({ x: 2000, y: 4000, imageZoom: 0.25, rotation: 0 });
    // equal tissue per screen pixel on both sides: 0.5 / 0.5 = 0.25 / 0.25 = 1 µm
    expect(toShared(v, f.b).perScreenPx).toBeCloseTo(1);
  });

  it('following back and forth returns the leader’s own view', () => {
    const f = compareFrames(COARSE, FINE);
    const a = { x: 3210, y: 987, imageZoom: 0.37, rotation: 90 };
    const link = linkBetween(
      toShared(a, f.a),
      toShared({ x: 500, y: 700, imageZoom: 2, rotation: 0 }, f.b),
      true,
    );
    const b = followView(a, f.a, f.b, link);
    const back = followView(b, f.b, f.a, invertLink(link));
    close(back, a);
    expect(back.imageZoom).toBeCloseTo(a.imageZoom);
    expect(back.rotation).toBeCloseTo(a.rotation);
  });

  it('a pan of 100 µm on the 0.5 µm/px slide moves the 0.25 µm/px slide by 400 of its pixels', () => {
    const f = compareFrames(COARSE, FINE);
    const a = { x: 1000, y: 1000, imageZoom: 1, rotation: 0 };
    const b = { x: 9000, y: 3000, imageZoom: 2, rotation: 0 };
    const link = linkBetween(toShared(a, f.a), toShared(b, f.b), false);
    close(followView(a, f.a, f.b, link), b);
    const moved = followView({ ...a, x: 1200 }, f.a, f.b, link);
    close(moved, { x: 9400, y: 3000 });
  });

  it('uses each axis’s own µm/px when x and y differ', () => {
    const f = compareFrames({ width: 100, height: 100, mppX: 0.5, mppY: 0.25 }, FINE);
    const v = followView({ x: 10, y: 10, imageZoom: 1, rotation: 0 }, f.a, f.b, SAME_PLACE);
    close(v, { x: 20, y: 10 });
  });
});

describe('rotation: the link turns with the views', () => {
  const f = compareFrames(COARSE, FINE);

  it('opening at the same place adopts the leader’s rotation', () => {
    const v = followView({ x: 100, y: 100, imageZoom: 1, rotation: 270 }, f.a, f.b, SAME_PLACE);
    expect(v.rotation).toBe(270);
    close(v, { x: 200, y: 200 });
  });

  it('a rotation of A carries B round with it (same centre, same angle)', () => {
    const link = linkBetween(
      toShared({ x: 100, y: 100, imageZoom: 1, rotation: 0 }, f.a),
      toShared({ x: 900, y: 900, imageZoom: 2, rotation: 0 }, f.b),
      false,
    );
    const turned = followView({ x: 100, y: 100, imageZoom: 1, rotation: 90 }, f.a, f.b, link);
    close(turned, { x: 900, y: 900 });
    expect(turned.rotation).toBe(90);
  });

  it('with B turned a quarter against A, a pan along A’s x moves B along its y (the same way on screen)', () => {
    // A shown at 90°, B at 0°: a point 1 µm along A's +x is drawn 1 µm below A's centre on screen;
    // B shows the same tissue 1 µm below its centre, which is B's +y.
    const a: SharedView = { x: 0, y: 0, perScreenPx: 1, rotation: 90 };
    const b: SharedView = { x: 50, y: 50, perScreenPx: 1, rotation: 0 };
    const link = linkBetween(a, b, true);
    expect(link.angle).toBe(90);
    const moved = followShared({ ...a, x: 10 }, link);
    close(moved, { x: 50, y: 60 });
    expect(moved.rotation).toBe(0);
    // rotating A by another 90° turns B by 90° too, about the same centres
    const both = followShared({ ...a, rotation: 180 }, link);
    close(both, { x: 50, y: 50 });
    expect(both.rotation).toBe(90);
    // and the inverse undoes it
    const back = followShared(moved, invertLink(link));
    close(back, { x: 10, y: 0 });
    expect(back.rotation).toBeCloseTo(90);
  });
});

describe('without µm/px on one side the views follow as fractions of each image', () => {
  it('falls back to image fractions and says so', () => {
    const f = compareFrames(COARSE, UNCALIBRATED);
    expect(f.unit).toBe('fraction');
    // the middle of A is the middle of B; the whole width of A on screen is the whole width of B
    const v = followView({ x: 5000, y: 4000, imageZoom: 0.1, rotation: 0 }, f.a, f.b, SAME_PLACE);
    close(v, { x: 2000, y: 1000 });
    // same aspect-independent scale: sqrt(w·h) of each image spans the same screen length
    expect(Math.sqrt(4000 * 2000) * v.imageZoom).toBeCloseTo(Math.sqrt(10_000 * 8_000) * 0.1);
  });

  it('two calibrated slides never use fractions', () => {
    expect(compareFrames(FINE, COARSE).unit).toBe('um');
    expect(compareFrames({ ...FINE, mppY: null }, COARSE).unit).toBe('um');
  });
});
