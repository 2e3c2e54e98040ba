import { describe, expect, it } from 'vitest';
import { decodeTagValue } from './tags.ts';

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
