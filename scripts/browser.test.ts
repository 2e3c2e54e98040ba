import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtFrom, sourceDigest } from './browser.ts';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function tree(): { src: string; dist: string; file: string } {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-build-'));
  const src = path.join(dir, 'src');
  mkdirSync(path.join(src, 'viewer'), { recursive: true });
  const file = path.join(src, 'viewer', 'osd.ts');
  writeFileSync(file, 'export const a = 1;\n');
  writeFileSync(path.join(src, 'main.tsx'), 'import "./viewer/osd.ts";\n');
  const dist = path.join(dir, 'dist');
  mkdirSync(dist);
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html>');
  return { src, dist, file };
}

describe('which client build is current', () => {
  it('a changed source is seen even when its modification time goes back, and a build dated in the future is not taken for current', () => {
    const { src, dist, file } = tree();
    const before = sourceDigest(dir, [src]);
    writeFileSync(path.join(dist, '.built-from'), before);
    expect(builtFrom(dist, sourceDigest(dir, [src]))).toBe(true);
    // The index dated 2099 (as a copy or a clock set wrong leaves it), the source edited and dated back.
    const future = new Date('2099-01-01T00:00:00Z');
    utimesSync(path.join(dist, 'index.html'), future, future);
    writeFileSync(file, 'export const a = 2;\n');
    utimesSync(file, new Date('2000-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z'));
    expect(sourceDigest(dir, [src])).not.toBe(before);
    expect(builtFrom(dist, sourceDigest(dir, [src]))).toBe(false);
  });

  it('touching a file without changing it does not ask for a build; a renamed file does', () => {
    const { src, file } = tree();
    const before = sourceDigest(dir, [src]);
    utimesSync(file, new Date(), new Date());
    expect(sourceDigest(dir, [src])).toBe(before);
    writeFileSync(path.join(src, 'viewer', 'osd2.ts'), 'export const a = 1;\n');
    rmSync(file);
    expect(sourceDigest(dir, [src])).not.toBe(before);
  });

  it('no build, or a build without its record, is not current', () => {
    const { src, dist } = tree();
    const d = sourceDigest(dir, [src]);
    expect(builtFrom(dist, d)).toBe(false);
    writeFileSync(path.join(dist, '.built-from'), d);
    rmSync(path.join(dist, 'index.html'));
    expect(builtFrom(dist, d)).toBe(false);
  });
});
