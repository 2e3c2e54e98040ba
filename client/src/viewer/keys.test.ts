import { describe, expect, it } from 'vitest';
import { actionForKey, KEY_HELP, TOOL_KEY, type Tool } from './keys.ts';

const key = (k: string, mods: Partial<{ shiftKey: boolean; ctrlKey: boolean; altKey: boolean }> = {}) =>
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
  it('] rotates clockwise, [ back', () => {
    expect(key(']')).toEqual({ kind: 'rotate', degrees: 90 });
    expect(key('[')).toEqual({ kind: 'rotate', degrees: -90 });
  });
  it('every annotation tool has a key, whatever the Caps Lock', () => {
    const expected: [string, Tool][] = [
      ['v', 'select'],
      ['p', 'point'],
      ['l', 'line'],
      ['r', 'rectangle'],
      ['e', 'ellipse'],
      ['g', 'polygon'],
      ['f', 'freehand'],
    ];
    for (const [k, tool] of expected) {
      expect(key(k)).toEqual({ kind: 'tool', tool });
      expect(key(k.toUpperCase())).toEqual({ kind: 'tool', tool });
    }
    expect(key('L', { shiftKey: true })).toEqual({ kind: 'tool', tool: 'polyline' });
  });
  it('Esc, Enter, Delete, Backspace and ? are mapped; shortcuts with Ctrl or Alt are left alone', () => {
    expect(key('Escape')).toEqual({ kind: 'cancel' });
    expect(key('Enter')).toEqual({ kind: 'finish' });
    expect(key('Delete')).toEqual({ kind: 'delete' });
    expect(key('Backspace')).toEqual({ kind: 'backspace' });
    expect(key('?')).toEqual({ kind: 'help' });
    expect(key('r', { ctrlKey: true })).toBeNull();
    expect(key('l', { altKey: true })).toBeNull();
  });
  it('the help lists every tool’s key, and every row names a key', () => {
    const keys = new Set(KEY_HELP.map(([k]) => k));
    for (const k of Object.values(TOOL_KEY)) expect(keys).toContain(k);
    for (const [k, what] of KEY_HELP) {
      expect(k.length).toBeGreaterThan(0);
      expect(what.length).toBeGreaterThan(0);
    }
  });
  it('AI results: N / Shift+N step through findings, A / X judge the selected one, with Shift the slide', () => {
    expect(key('n')).toEqual({ kind: 'ai-step', step: 1 });
    expect(key('N', { shiftKey: true })).toEqual({ kind: 'ai-step', step: -1 });
    expect(key('a')).toEqual({ kind: 'ai-verdict', verdict: 'accept', target: 'finding' });
    expect(key('A')).toEqual({ kind: 'ai-verdict', verdict: 'accept', target: 'finding' });
    expect(key('x')).toEqual({ kind: 'ai-verdict', verdict: 'reject', target: 'finding' });
    expect(key('A', { shiftKey: true })).toEqual({ kind: 'ai-verdict', verdict: 'accept', target: 'slide' });
    expect(key('X', { shiftKey: true })).toEqual({ kind: 'ai-verdict', verdict: 'reject', target: 'slide' });
    // R stays the rectangle and P the point tool: the verdict keys take no tool's letter.
    expect(key('r')).toEqual({ kind: 'tool', tool: 'rectangle' });
    expect(key('p')).toEqual({ kind: 'tool', tool: 'point' });
    for (const k of Object.values(TOOL_KEY)) expect(['A', 'X', 'N']).not.toContain(k);
    const help = KEY_HELP.map(([k]) => k);
    for (const k of ['N / Shift+N', 'A / X', 'Shift+A / Shift+X']) expect(help).toContain(k);
  });
});
