import { describe, expect, it } from 'vitest';
import {
  basePower,
  formatMagnification,
  imageZoomFor,
  isDigitalZoom,
  magnificationOf,
  magnificationReadout,
  normalizeRotation,
  parseViewParams,
  urlViewOf,
  viewStateOf,
  writeViewParams,
} from './viewport.ts';

describe('magnification is relative to the objective power', () => {
  it('uses the objective power when the slide has one (20x slide at 1:1 shows 20x)', () => {
    const p = basePower(20, 0.499);
    expect(p).toEqual({ base: 20, source: 'objective' });
    expect(magnificationOf(1, p)).toBe(20);
    expect(imageZoomFor(40, p)).toBe(2);
    expect(imageZoomFor(5, p)).toBe(0.25);
  });

  it('derives the power from µm/px with 10x ≈ 1 µm/px when the objective is unknown', () => {
    const p = basePower(null, 0.25);
    expect(p.source).toBe('mpp');
    expect(p.base).toBeCloseTo(40);
    // mpp_screen = mpp × objective / M: at 10x one screen pixel covers 1 µm
    expect(0.25 / imageZoomFor(10, p)).toBeCloseTo(1);
  });

  it('falls back to screen pixels per image pixel with neither objective nor µm/px', () => {
    expect(basePower(null, null)).toEqual({ base: 1, source: 'none' });
  });

  it('formats with enough digits to tell steps apart', () => {
    expect(formatMagnification(12.345)).toBe('12.3x');
    expect(formatMagnification(40)).toBe('40x');
    expect(formatMagnification(1.25)).toBe('1.25x');
    expect(formatMagnification(0.6234)).toBe('0.623x');
    expect(formatMagnification(0)).toBe('–');
  });
});

describe('viewport ↔ URL', () => {
  it('round-trips a view through the query string', () => {
    const p = basePower(20, 0.5);
    const v = { x: 1110.4, y: 1483.6, imageZoom: 0.5, rotation: 90 };
    const search = writeViewParams('', urlViewOf(v, p));
    expect(search).toBe('?x=1110&y=1484&zoom=10&rot=90');
    const back = parseViewParams(search);
    expect(back.view).toEqual({ x: 1110, y: 1484, zoom: 10, rotation: 90 });
    expect(viewStateOf(back.view!, p)).toEqual({ x: 1110, y: 1484, imageZoom: 0.5, rotation: 90 });
  });

  it('keeps unrelated parameters and drops rot=0', () => {
    expect(writeViewParams('?compare=abc&rot=90', { x: 1, y: 2, zoom: 3.14159, rotation: 0 })).toBe(
      '?compare=abc&x=1&y=2&zoom=3.142',
    );
  });

  it('needs x, y and a positive zoom for a view, but honours rotation alone', () => {
    expect(parseViewParams('?x=1&y=2').view).toBeNull();
    expect(parseViewParams('?x=1&y=2&zoom=0').view).toBeNull();
    expect(parseViewParams('?x=a&y=2&zoom=1').view).toBeNull();
    expect(parseViewParams('?rot=-90')).toEqual({ view: null, rotation: 270 });
  });

  it('normalises rotation into 0..359', () => {
    expect(normalizeRotation(450)).toBe(90);
    expect(normalizeRotation(-180)).toBe(180);
    expect(normalizeRotation(360)).toBe(0);
  });
});

describe('magnifications beyond the scan are marked as digital zoom', () => {
  it('a 20x scan reads 20x at 1:1 and "40x (digital)" at 2 screen px per image px', () => {
    const p = basePower(20, 0.499);
    expect(magnificationReadout(1, p)).toEqual({ text: '20x', digital: false });
    expect(magnificationReadout(0.5, p)).toEqual({ text: '10x', digital: false });
    expect(magnificationReadout(2, p)).toEqual({ text: '40x (digital)', digital: true });
  });

  it('a 40x scan is digital only beyond 40x', () => {
    const p = basePower(40, 0.25);
    expect(magnificationReadout(imageZoomFor(40, p), p).digital).toBe(false);
    expect(magnificationReadout(imageZoomFor(63, p), p)).toEqual({ text: '63x (digital)', digital: true });
  });

  it('without an objective the limit is one screen pixel per image pixel', () => {
    const mpp = basePower(null, 0.998);
    expect(magnificationReadout(1, mpp).digital).toBe(false);
    expect(magnificationReadout(1.5, mpp).text).toBe('≈15x (digital)');
    const none = basePower(null, null);
    expect(magnificationReadout(0.5, none)).toEqual({ text: '50%', digital: false });
    expect(magnificationReadout(2, none)).toEqual({ text: '200% (digital)', digital: true });
  });

  it('rounding at exactly 1:1 is not digital zoom', () => {
    expect(isDigitalZoom(1.0000001)).toBe(false);
    expect(isDigitalZoom(1.01)).toBe(true);
  });
});
