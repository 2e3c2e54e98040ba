import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockCache } from './block-cache.ts';

const B = 1000;
const file = randomBytes(10 * B + 123);

/** A file in memory read through the cache, with the ranges asked of it. */
function setup(maxBytes = 100 * B) {
  const cache = new BlockCache(maxBytes, B);
  const asked: [number, number][] = [];
  const reader = cache.reader('s/slide.tif', file.length, async (start, end) => {
    asked.push([start, end]);
    await new Promise((r) => setTimeout(r, 5));
    return file.subarray(start, end);
  });
  return { cache, asked, reader };
}

describe('block cache', () => {
  it('reads equal the file, inside a block, across blocks, at its end and past it', async () => {
    const { reader } = setup();
    for (const [o, l] of [
      [0, 10],
      [990, 20],
      [1500, 3000],
      [file.length - 5, 100],
      [file.length, 10],
      [0, file.length],
    ] as const)
      expect((await reader.read(o, l)).equals(file.subarray(o, o + l))).toBe(true);
  });

  it('reads of one block at the same time share one request; consecutive missing blocks are one request', async () => {
    const { reader, asked } = setup();
    await Promise.all([reader.read(10, 10), reader.read(500, 10), reader.read(900, 50)]);
    expect(asked).toEqual([[0, B]]);
    await reader.read(2 * B + 5, 3 * B);
    expect(asked.slice(1)).toEqual([[2 * B, 6 * B]]);
  });

  it('bytes inserted from a read of the end serve reads inside them without a request; the block they start in only from where they start', async () => {
    const { cache, reader, asked } = setup();
    const from = file.length - 2500;
    cache.insert('s/slide.tif', file.length, from, file.subarray(from));
    // Blocks 8, 9 and the last, short one (10) whole; block 7 only from `from` on.
    expect([7, 8, 9, 10].map((b) => cache.has('s/slide.tif', b))).toEqual([false, true, true, true]);
    expect((await reader.read(8 * B, file.length - 8 * B)).equals(file.subarray(8 * B))).toBe(true);
    expect((await reader.read(from, 10)).equals(file.subarray(from, from + 10))).toBe(true);
    expect((await reader.read(from + 5, 2000)).equals(file.subarray(from + 5, from + 2005))).toBe(true);
    expect(asked).toEqual([]);
    expect((await reader.read(from - 1, 10)).equals(file.subarray(from - 1, from + 9))).toBe(true);
    expect(asked).toEqual([[7 * B, 8 * B]]);
    expect(cache.has('s/slide.tif', 7)).toBe(true);
  });

  it('a read larger than four blocks comes from held blocks when all are there, else straight from the file, unkept', async () => {
    const { cache, reader, asked } = setup();
    expect((await reader.read(0, 6 * B)).equals(file.subarray(0, 6 * B))).toBe(true);
    expect(asked).toEqual([[0, 6 * B]]);
    expect(cache.bytes).toBe(0);
    cache.insert('s/slide.tif', file.length, 0, file);
    expect((await reader.read(100, 6 * B)).equals(file.subarray(100, 100 + 6 * B))).toBe(true);
    expect(asked).toHaveLength(1);
  });

  it('a preload fetches from the first block not held to the last in one request and keeps them whole', async () => {
    const { cache, reader, asked } = setup();
    const from = file.length - 1500;
    cache.insert('s/slide.tif', file.length, from, file.subarray(from));
    await reader.read(3 * B, 10);
    // Blocks 1-9 wanted: 3 is held (fetched again, it lies between), 8 only in part, 9 whole.
    await reader.preload!(B + 200, 8 * B);
    expect(asked).toEqual([
      [3 * B, 4 * B],
      [B, 9 * B],
    ]);
    expect([1, 2, 8, 9].map((b) => cache.has('s/slide.tif', b))).toEqual([true, true, true, true]);
    // A read of more than four blocks comes from them.
    expect((await reader.read(B + 100, 8 * B)).equals(file.subarray(B + 100, 9 * B + 100))).toBe(true);
    expect(asked).toHaveLength(2);
    await reader.preload!(2 * B, 3 * B);
    expect(asked).toHaveLength(2);
  });

  it('a preload inside what the end read holds, over a quarter of the cache, or after close, fetches nothing', async () => {
    const { cache, reader, asked } = setup(12 * B);
    const from = file.length - 2500;
    cache.insert('s/slide.tif', file.length, from, file.subarray(from));
    await reader.preload!(from + 10, 2000);
    await reader.preload!(0, 4 * B);
    expect(asked).toEqual([]);
    await reader.close();
    await reader.preload!(0, B);
    expect(asked).toEqual([]);
  });

  it('stays within its bytes, least recently used out; forget drops a slide', async () => {
    const { cache, reader } = setup(3 * B);
    for (const b of [0, 1, 2, 3]) await reader.read(b * B, 1);
    expect(cache.bytes).toBe(3 * B);
    expect([0, 1, 2, 3].map((b) => cache.has('s/slide.tif', b))).toEqual([false, true, true, true]);
    cache.forget('s/');
    expect(cache.bytes).toBe(0);
  });
});
