import { describe, expect, it } from 'vitest';
import { actionForKey, KEY_HELP } from './keys.ts';

const key = (k: string, mods: Partial<{ shiftKey: boolean; ctrlKey: boolean }> = {}) =>
  actionForKey({ key: k, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, ...mods });

describe('viewer keyboard map', () => {
  it('arrows pan, +/− zoom, 0 fits', () => {
    expect(key('ArrowLeft')).toMatchObject({ kind: 'pan', dy: 0 });
    expect(key('+')).toMatchObject({ kind: 'zoom' });
    expect(key('=')).toMatchObject({ kind: 'zoom' });
    expect((key('-') as { factor: number }).factor).toBeLessThan(1);
    expect(key('0')).toEqual({ kind: 'fit' });
  });
  it('number keys 1–6 pick the magnification steps', () => {
    expect(key('1')).toEqual({ kind: 'magnification', index: 0 });
    expect(key('6')).toEqual({ kind: 'magnification', index: 5 });
    expect(key('7')).toBeNull();
  });
  it('R rotates clockwise, Shift+R back', () => {
    expect(key('r')).toEqual({ kind: 'rotate', degrees: 90 });
    expect(key('R', { shiftKey: true })).toEqual({ kind: 'rotate', degrees: -90 });
  });
  it('tools, Esc, Enter and ? are mapped; shortcuts with Ctrl are left to the browser', () => {
    expect(key('l')).toEqual({ kind: 'tool', tool: 'line' });
    expect(key('b')).toEqual({ kind: 'tool', tool: 'rect' });
    expect(key('p')).toEqual({ kind: 'tool', tool: 'polygon' });
    expect(key('Escape')).toEqual({ kind: 'cancel' });
    expect(key('Enter')).toEqual({ kind: 'finish' });
    expect(key('?')).toEqual({ kind: 'help' });
    expect(key('r', { ctrlKey: true })).toBeNull();
  });
  it('every help row names a key', () => {
    for (const [k, what] of KEY_HELP) {
      expect(k.length).toBeGreaterThan(0);
      expect(what.length).toBeGreaterThan(0);
    }
  });
});
