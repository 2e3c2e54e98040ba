import { describe, expect, it } from 'vitest';
import { decodeTagValue, unsignedTable } from './tags.ts';

/** Values written with Buffer's own writers, read back by the decoder in both byte orders. */
function packed(size: 2 | 4 | 8, values: number[], le: boolean): Buffer {
  const b = Buffer.alloc(size * values.length + 3).subarray(3); // an odd byteOffset, as pooled reads have
  values.forEach((v, i) => {
    if (size === 2) b[le ? 'writeUInt16LE' : 'writeUInt16BE'](v, 2 * i);
    else if (size === 4) b[le ? 'writeUInt32LE' : 'writeUInt32BE'](v, 4 * i);
    else b[le ? 'writeBigUInt64LE' : 'writeBigUInt64BE'](BigInt(v), 8 * i);
  });
  return b;
}

describe('decodeTagValue', () => {
  for (const le of [true, false]) {
    const order = le ? 'little-endian' : 'big-endian';
    it(`reads SHORT, LONG and LONG8/IFD8 tables (${order})`, () => {
      expect(decodeTagValue(packed(2, [0, 1, 65535, 258], le), 3, 4, le)).toEqual([0, 1, 65535, 258]);
      const longs = [0, 1, 2 ** 32 - 1, 305419896];
      expect(decodeTagValue(packed(4, longs, le), 4, 4, le)).toEqual(longs);
      expect(decodeTagValue(packed(4, longs, le), 13, 4, le)).toEqual(longs);
      // Offsets past 4 GB (BigTIFF), up to 2^53 - 1, are exact.
      const big = [0, 2 ** 32, 2 ** 32 + 7, 6_000_000_000_123, 2 ** 53 - 1];
      expect(decodeTagValue(packed(8, big, le), 16, 5, le)).toEqual(big);
      expect(decodeTagValue(packed(8, big, le), 18, 5, le)).toEqual(big);
    });
  }

  it('reads only `count` values of a longer buffer, and a table of 100,000 offsets', () => {
    expect(decodeTagValue(packed(4, [5, 6, 7], true), 4, 2, true)).toEqual([5, 6]);
    const many = Array.from({ length: 100_000 }, (_, i) => i * 9973 + 2 ** 33);
    expect(decodeTagValue(packed(8, many, true), 16, many.length, true)).toEqual(many);
  });
});

describe('unsignedTable', () => {
  for (const le of [true, false]) {
    const order = le ? 'little-endian' : 'big-endian';
    it(`reads SHORT, LONG and LONG8/IFD8 tables into Float64Arrays (one kind for every table) from any offset (${order})`, () => {
      const shorts = unsignedTable(packed(2, [0, 1, 65535, 258], le), 3, 4, le);
      expect(shorts).toBeInstanceOf(Float64Array);
      expect([...shorts!]).toEqual([0, 1, 65535, 258]);
      const longs = [0, 1, 2 ** 32 - 1, 305419896];
      for (const type of [4, 13]) {
        const t = unsignedTable(packed(4, longs, le), type, 4, le);
        expect(t).toBeInstanceOf(Float64Array);
        expect([...t!]).toEqual(longs);
      }
      const big = [0, 2 ** 32, 2 ** 32 + 7, 6_000_000_000_123, 2 ** 53 - 1];
      for (const type of [16, 18]) {
        const t = unsignedTable(packed(8, big, le), type, 5, le);
        expect(t).toBeInstanceOf(Float64Array);
        expect([...t!]).toEqual(big);
      }
    });
  }

  it('takes only `count` values, leaves the bytes it was given as they were, and refuses other types or short buffers', () => {
    const b = packed(4, [5, 6, 7], false);
    const before = Buffer.from(b);
    expect([...unsignedTable(b, 4, 2, false)!]).toEqual([5, 6]);
    expect(b.equals(before)).toBe(true);
    expect(unsignedTable(packed(4, [5], true), 5, 1, true)).toBeNull();
    expect(unsignedTable(packed(4, [5], true), 4, 2, true)).toBeNull();
    const many = Array.from({ length: 300_000 }, (_, i) => i * 9973 + 2 ** 33);
    const t = unsignedTable(packed(8, many, true), 16, many.length, true)!;
    expect(t.length).toBe(many.length);
    expect(t[0]).toBe(many[0]);
    expect(t[299_999]).toBe(many[299_999]);
  });
});
